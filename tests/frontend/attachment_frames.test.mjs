// A photo or voice message in the chat frames (frontend/static/frontend/answer_state.js,
// docs/protocol.md "Photos and voice messages"): the upload's id rides on its message, again after a reconnect.
// So does the picture a picture's Edit button names (docs/protocol.md "/imagine <prompt> in the chat").

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

test("a message with an upload names it, and a message without one does not", () => {
  const frames = framesSent(
    { type: "connected" },
    { type: "send_message", clientId: "c1", conversationId: 7, text: " Which gate? ", attachmentId: 41 },
    { type: "send_message", clientId: "c2", conversationId: 7, text: "Thanks" }
  );
  assert.deepEqual(frames, [
    { type: "message", conversation_id: 7, text: "Which gate?", client_id: "c1", attachment_id: 41 },
    { type: "message", conversation_id: 7, text: "Thanks", client_id: "c2" },
  ]);
});

test("a voice message sent before the socket opens goes out with its upload once it does", () => {
  const frames = framesSent(
    { type: "send_message", clientId: "v1", conversationId: null, text: "", attachmentId: 42 },
    { type: "connected" }
  );
  assert.deepEqual(frames, [{ type: "message", conversation_id: null, text: "", client_id: "v1", attachment_id: 42 }]);
});

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
