// "Remember that …?" in the answer reducer (frontend/static/frontend/answer_state.js): the
// `memory_consent` frame of docs/protocol.md puts questions on an answer, and the page's
// `consent_answered` event takes each back, noting the fact as kept on a yes.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { answerById, initialState, reduce } from "../../frontend/static/frontend/answer_state.js";

function run(state, ...events) {
  const effects = [];
  for (const event of events) {
    state = reduce(state, event);
    effects.push(...state.effects);
  }
  return { state, effects };
}

/** A page whose message c1 was answered by answer 32. */
function answered() {
  return run(
    initialState(),
    { type: "connected" },
    { type: "send_message", clientId: "c1", conversationId: null, text: "I'm diabetic, what can I eat?" },
    { type: "ack", client_id: "c1", conversation_id: 7, user_message_id: 31, message_id: 32 },
    { type: "token", message_id: 32, seq: 1, text: "Vegetables." },
    { type: "done", message_id: 32, seq: 1, finish_reason: "stop", usage: { prompt_tokens: 9, completion_tokens: 1 } }
  ).state;
}

const diabetes = { text: "Has type 1 diabetes.", token: "t-diabetes" };
const faith = { text: "Is Catholic.", token: "t-faith" };
const consent = (facts, messageId = 32) => ({ type: "memory_consent", message_id: messageId, user_message_id: 31, facts });

describe("memory_consent", () => {
  test("the questions are put on their answer once each, and the answer is drawn again", () => {
    const { state, effects } = run(answered(), consent([diabetes]), consent([diabetes, faith]), consent([faith]));
    assert.deepEqual(answerById(state, 32).memoryConsent, [diabetes, faith]);
    assert.deepEqual(
      effects.filter((effect) => effect.type === "memory_noted"),
      [
        { type: "memory_noted", key: "c1" },
        { type: "memory_noted", key: "c1" },
      ]
    );
  });

  test("a question about an answer this page does not know is ignored", () => {
    const before = answered();
    assert.equal(run(before, consent([diabetes], 99)).state.answers, before.answers);
  });

  test("yes takes the question back and notes the fact kept; no only takes it back", () => {
    const kept = { id: 5, text: "Has type 1 diabetes." };
    const { state } = run(
      answered(),
      consent([diabetes, faith]),
      { type: "consent_answered", key: "c1", token: "t-diabetes", item: kept },
      { type: "consent_answered", key: "c1", token: "t-faith", item: null }
    );
    const answer = answerById(state, 32);
    assert.deepEqual(answer.memoryConsent, []);
    assert.deepEqual(answer.memoryUpdated, [kept]);
  });
});
