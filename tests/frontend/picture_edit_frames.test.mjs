// A picture's Edit button in the chat frames (frontend/static/frontend/answer_state.js, docs/protocol.md
// "/imagine <prompt> in the chat"): the message it sends names the picture's message, also when a
// reconnect sends it again, and no other message does.

import assert from "node:assert/strict";
import { test } from "node:test";

import { initialState, reduce } from "../../frontend/static/frontend/answer_state.js";

function framesSent(...events) {
  let state = initialState();
  const frames = [];
  for (const event of events) {
    state = reduce(state, event);
    frames.push(...state.effects.filter((effect) => effect.type === "send").map((effect) => effect.frame));
  }
  return frames;
}

const EDIT = { type: "send_message", clientId: "e1", conversationId: 7, text: "/imagine edit at night", editPictureOf: 12 };
const EDIT_FRAME = { type: "message", conversation_id: 7, text: "/imagine edit at night", client_id: "e1", edit_picture_of: 12 };

test("an edit names the picture's message, and the next message names none", () => {
  const frames = framesSent(
    { type: "connected" },
    EDIT,
    { type: "send_message", clientId: "c2", conversationId: 7, text: "Thanks" }
  );
  assert.deepEqual(frames, [EDIT_FRAME, { type: "message", conversation_id: 7, text: "Thanks", client_id: "c2" }]);
});

test("an edit sent before the socket opens still names its picture once it does", () => {
  assert.deepEqual(framesSent(EDIT, { type: "connected" }), [EDIT_FRAME]);
});
