// Message versions on the chat page (frontend/static/frontend/versions.js): the switcher's position,
// the frames an edit and a switch send, the branch an edit cuts, and the reducer sending an edit
// again after a reconnect with its client_id (answer_state.js).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { initialState, reduce } from "../../frontend/static/frontend/answer_state.js";
import {
  canSaveEdit,
  cutBranch,
  editFrame,
  selectVersionFrame,
  switcher,
  versionsById,
} from "../../frontend/static/frontend/versions.js";

const codePoints = (text) => Array.from(text).length;

describe("the switcher", () => {
  test("shows the position among the versions and the neighbours' ids", () => {
    assert.deepEqual(switcher([4, 9, 12], 9), { index: 2, count: 3, previous: 4, next: 12 });
    assert.deepEqual(switcher([4, 9], 9), { index: 2, count: 2, previous: 4, next: null });
    assert.deepEqual(switcher([4, 9], 4), { index: 1, count: 2, previous: null, next: 9 });
  });

  test("is absent for a single version, an unknown message or no versions at all", () => {
    assert.equal(switcher([4], 4), null);
    assert.equal(switcher([4, 9], 5), null);
    assert.equal(switcher(undefined, 4), null);
  });

  test("reads each message's versions from the REST list", () => {
    const map = versionsById([
      { id: 1, role: "user", versions: [1] },
      { id: 5, role: "assistant", versions: [2, 5] },
      { id: 6, role: "user" },
    ]);
    assert.deepEqual([...map.entries()], [
      [1, [1]],
      [5, [2, 5]],
    ]);
  });
});

describe("frames", () => {
  test("an edit names the conversation, the edited message and its own client_id, text trimmed", () => {
    assert.deepEqual(editFrame({ conversationId: 3, messageId: 7, text: "  again ", clientId: "c9" }), {
      type: "edit",
      conversation_id: 3,
      message_id: 7,
      text: "again",
      client_id: "c9",
    });
    assert.deepEqual(selectVersionFrame(5), { type: "select_version", message_id: 5 });
  });

  test("an unacknowledged edit goes again as an edit after a reconnect", () => {
    let state = reduce(initialState(), { type: "connected" });
    state = reduce(state, { type: "send_message", clientId: "e1", conversationId: 3, text: "New words", editOf: 7 });
    const first = state.effects.find((effect) => effect.type === "send").frame;
    state = reduce(reduce(state, { type: "disconnected" }), { type: "connected" });
    const again = state.effects.find((effect) => effect.type === "send").frame;

    assert.deepEqual(first, { type: "edit", conversation_id: 3, message_id: 7, text: "New words", client_id: "e1" });
    assert.deepEqual(again, first);
  });

  test("a plain message is still a message frame", () => {
    const state = reduce(reduce(initialState(), { type: "connected" }), {
      type: "send_message",
      clientId: "m1",
      conversationId: 3,
      text: "Hi",
    });
    assert.equal(state.effects.find((effect) => effect.type === "send").frame.type, "message");
  });

  test("a stored switch tells the page to reload that conversation", () => {
    const state = reduce(initialState(), { type: "version_selected", conversation_id: 3, message_id: 5 });
    assert.deepEqual(state.effects, [{ type: "version_selected", conversationId: 3 }]);
  });
});

describe("editing", () => {
  test("cuts the thread at the edited message", () => {
    const entries = ["q1", "a1", "q2", "a2"];
    assert.deepEqual(cutBranch(entries, "q2"), { kept: ["q1", "a1"], dropped: ["q2", "a2"] });
    assert.deepEqual(cutBranch(entries, "q0"), { kept: entries, dropped: [] });
  });

  test("saves only a changed, non-empty text within the limit", () => {
    assert.equal(canSaveEdit("Hello", "Hello there", 20, codePoints), true);
    assert.equal(canSaveEdit("Hello", "  Hello ", 20, codePoints), false);
    assert.equal(canSaveEdit("Hello", "   ", 20, codePoints), false);
    assert.equal(canSaveEdit("Hello", "😀".repeat(21), 20, codePoints), false);
    assert.equal(canSaveEdit("Hello", "😀".repeat(20), 20, codePoints), true);
  });
});
