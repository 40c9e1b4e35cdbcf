// The chat page's answer reducer (frontend/static/frontend/answer_state.js) against the frame
// sequences of docs/protocol.md: order, duplicates, gaps, resumes, refusals and errors.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { answerById, initialState, isFinal, reduce, statusFor } from "../../frontend/static/frontend/answer_state.js";

/** Runs `events` through the reducer from `state`; returns the last state and every effect on the way. */
function run(state, ...events) {
  const effects = [];
  for (const event of events) {
    state = reduce(state, event);
    effects.push(...state.effects);
  }
  return { state, effects };
}

function sent(effects) {
  return effects.filter((effect) => effect.type === "send").map((effect) => effect.frame);
}

function ofType(effects, type) {
  return effects.filter((effect) => effect.type === type);
}

const token = (seq, text, messageId = 32) => ({ type: "token", message_id: messageId, seq, text });
const done = (seq, fields = {}) => ({
  type: "done",
  message_id: 32,
  seq,
  finish_reason: "stop",
  usage: { prompt_tokens: 24, completion_tokens: seq },
  error: null,
  error_code: null,
  invalid_citations: [],
  code_warnings: [],
  image: null,
  ...fields,
});
const queued = (position, messageId = 32) => ({ type: "queued", message_id: messageId, position });
const ack = { type: "ack", client_id: "c1", conversation_id: 7, user_message_id: 31, message_id: 32 };
const regenerate = { type: "regenerate", key: "r1", conversationId: 7, replacedKey: "c1" };

/** A connected page that sent "Hi!" as c1 and got its ack: answer 32 is streaming. */
function streaming() {
  return run(
    initialState(),
    { type: "connected" },
    { type: "send_message", clientId: "c1", conversationId: null, text: "  Hi!  " },
    ack
  ).state;
}

describe("sending a message", () => {
  test("a message goes out trimmed with its client_id and waits for its ack", () => {
    const { state, effects } = run(
      initialState(),
      { type: "connected" },
      { type: "send_message", clientId: "c1", conversationId: null, text: "  Hi!  " }
    );
    assert.deepEqual(sent(effects), [{ type: "message", conversation_id: null, text: "Hi!", client_id: "c1" }]);
    assert.deepEqual([...state.pending.keys()], ["c1"]);
    assert.equal(state.answers.get("c1").status, "pending");
    assert.equal(state.answers.get("c1").id, null);
  });

  test("the ack names the answer, which streams from then on", () => {
    const { state, effects } = run(streaming());
    const answer = answerById(state, 32);
    assert.equal(answer.key, "c1");
    assert.equal(answer.status, "streaming");
    assert.equal(answer.conversationId, 7);
    assert.equal(state.pending.size, 0);
    assert.deepEqual(effects, []);
  });

  test("the acked effect carries what the page needs to place the message", () => {
    const { effects } = run(
      initialState(),
      { type: "connected" },
      { type: "send_message", clientId: "c1", conversationId: null, text: "Hi!" },
      ack
    );
    assert.deepEqual(ofType(effects, "acked"), [
      {
        type: "acked",
        key: "c1",
        clientId: "c1",
        conversationId: 7,
        userMessageId: 31,
        startedConversation: true,
        temporary: false,
        replacedKey: null,
      },
    ]);
  });

  test("a temporary chat starts with its first message; later messages need not say so", () => {
    const { effects } = run(
      initialState(),
      { type: "connected" },
      { type: "send_message", clientId: "c1", conversationId: null, text: "Hi!", temporary: true },
      ack,
      { type: "send_message", clientId: "c2", conversationId: 7, text: "Again", temporary: true }
    );
    assert.deepEqual(sent(effects), [
      { type: "message", conversation_id: null, text: "Hi!", client_id: "c1", temporary: true },
      { type: "message", conversation_id: 7, text: "Again", client_id: "c2" },
    ]);
    assert.equal(ofType(effects, "acked")[0].temporary, true);
  });

  test("a temporary first message sent again after a reconnect is still temporary", () => {
    const { effects } = run(
      initialState(),
      { type: "send_message", clientId: "c1", conversationId: null, text: "Hi!", temporary: true },
      { type: "connected" }
    );
    assert.deepEqual(sent(effects), [
      { type: "message", conversation_id: null, text: "Hi!", client_id: "c1", temporary: true },
    ]);
  });

  test("an ack for a client_id this page does not know changes nothing", () => {
    const before = streaming();
    const { state, effects } = run(before, { ...ack, client_id: "elsewhere", message_id: 99 });
    assert.equal(state.answers, before.answers);
    assert.deepEqual(effects, []);
  });

  test("a stop asked before the ack goes out with the ack", () => {
    const { state, effects } = run(
      initialState(),
      { type: "connected" },
      { type: "send_message", clientId: "c1", conversationId: 7, text: "Hi!" },
      { type: "stop", key: "c1" },
      ack
    );
    assert.deepEqual(sent(effects).slice(1), [{ type: "stop", message_id: 32 }]);
    assert.equal(answerById(state, 32).stopRequested, true);
  });
});

describe("token frames", () => {
  test("tokens in order build the text", () => {
    const { state, effects } = run(streaming(), token(1, "Hello"), token(2, "! How can I help?"));
    const answer = answerById(state, 32);
    assert.equal(answer.text, "Hello! How can I help?");
    assert.equal(answer.lastSeq, 2);
    assert.equal(ofType(effects, "streamed").length, 2);
    assert.deepEqual(ofType(effects, "watch_gap"), []);
  });

  test("a duplicate frame is dropped and leaves the state as it was", () => {
    const once = run(streaming(), token(1, "Hello"), token(2, " there")).state;
    const { state, effects } = run(once, token(2, " there"), token(1, "Hello"));
    assert.equal(answerById(state, 32).text, "Hello there");
    assert.equal(state.answers, once.answers);
    assert.deepEqual(effects, []);
  });

  test("a frame for an answer this page does not follow is ignored", () => {
    const before = streaming();
    const { state } = run(before, token(1, "other", 99));
    assert.equal(state.answers, before.answers);
  });

  test("a gap holds later frames back and asks for a resume when the timer fires", () => {
    const { state, effects } = run(streaming(), token(1, "a"), token(3, "c"), token(4, "d"));
    const answer = answerById(state, 32);
    assert.equal(answer.text, "a", "frames after the gap must wait");
    assert.deepEqual([...answer.buffer.keys()], [3, 4]);
    assert.deepEqual(ofType(effects, "watch_gap"), [{ type: "watch_gap", key: "c1" }], "one timer per gap");
    assert.deepEqual(sent(effects), []);

    const timedOut = run(state, { type: "gap_timeout", key: "c1" });
    assert.deepEqual(sent(timedOut.effects), [{ type: "resume", message_id: 32, after_seq: 1 }]);

    const filled = run(timedOut.state, token(2, "b"), token(3, "c"));
    assert.equal(answerById(filled.state, 32).text, "abcd");
    assert.equal(answerById(filled.state, 32).lastSeq, 4);
    assert.equal(answerById(filled.state, 32).buffer.size, 0);
  });

  test("a gap filled before the timer fires sends no resume", () => {
    const { state, effects } = run(streaming(), token(2, "b"), token(1, "a"), { type: "gap_timeout", key: "c1" });
    assert.equal(answerById(state, 32).text, "ab");
    assert.deepEqual(sent(effects), []);
  });
});

describe("done", () => {
  test("done ends the answer with the status its finish_reason means", () => {
    const { state, effects } = run(streaming(), token(1, "Hello"), done(1, { finish_reason: "length" }));
    const answer = answerById(state, 32);
    assert.equal(answer.status, "complete");
    assert.equal(answer.finishReason, "length");
    assert.deepEqual(ofType(effects, "finished"), [{ type: "finished", key: "c1", wasFinal: false }]);
  });

  test("done carries the pictures the model's code saved", () => {
    const png = "data:image/png;base64,iVBORw0KGgo=";
    const { state } = run(streaming(), token(1, "```python\nplot()\n```\n"), done(1, { code_images: [png] }));
    assert.deepEqual(answerById(state, 32).codeImages, [png]);
  });

  test("done after missing frames asks for them, and the done of the replay ends it", () => {
    const gap = run(streaming(), token(1, "a"), done(3));
    assert.deepEqual(sent(gap.effects), [{ type: "resume", message_id: 32, after_seq: 1 }]);
    assert.equal(answerById(gap.state, 32).status, "streaming", "not finished while frames are missing");
    assert.deepEqual(ofType(gap.effects, "finished"), []);

    const replayed = run(gap.state, token(1, "a"), token(2, "b"), token(3, "c"), done(3));
    const answer = answerById(replayed.state, 32);
    assert.equal(answer.text, "abc");
    assert.equal(answer.status, "complete");
    assert.equal(answer.recovering, false);
    assert.deepEqual(sent(replayed.effects), []);
  });

  test("done with missing frames while disconnected ends the answer with what it has", () => {
    const { state, effects } = run(streaming(), token(1, "a"), { type: "disconnected" }, done(3));
    assert.equal(answerById(state, 32).status, "complete");
    assert.deepEqual(sent(effects), []);
  });

  test("a second done while recovering ends the answer, cancelling the gap timer and the held frames", () => {
    const cancelled = done(2, { finish_reason: "cancelled" });
    const { state, effects } = run(streaming(), token(2, "b"), cancelled, cancelled);
    assert.deepEqual(sent(effects), [{ type: "resume", message_id: 32, after_seq: 0 }], "one resume, not a loop");
    assert.deepEqual(ofType(effects, "cancel_gap"), [{ type: "cancel_gap", key: "c1" }]);
    assert.equal(answerById(state, 32).buffer.size, 0);
    assert.equal(answerById(state, 32).status, "cancelled");
  });

  test("a failed answer keeps the error and its code", () => {
    const { state } = run(
      streaming(),
      done(0, { finish_reason: "error", error: "The model is down.", error_code: "model_unavailable" })
    );
    const answer = answerById(state, 32);
    assert.equal(answer.status, "error");
    assert.equal(answer.error, "The model is down.");
    assert.equal(answer.errorCode, "model_unavailable");
  });

  test("done for an answer this page does not follow only refreshes the titles", () => {
    const before = streaming();
    const { state, effects } = run(before, { ...done(4), message_id: 99 });
    assert.equal(state.answers, before.answers);
    assert.deepEqual(effects, [{ type: "finished", key: null, wasFinal: false }]);
  });

  test("finish reasons map to stored statuses", () => {
    assert.equal(statusFor("stop"), "complete");
    assert.equal(statusFor("length"), "complete");
    assert.equal(statusFor("cancelled"), "cancelled");
    assert.equal(statusFor("error"), "error");
    assert.equal(statusFor("blocked"), "blocked");
    assert.equal(statusFor("interrupted"), "interrupted");
    assert.equal(statusFor(undefined), "interrupted");
    assert.equal(isFinal("streaming"), false);
    assert.equal(isFinal("blocked"), true);
  });
});

describe("search and refusals", () => {
  test("search progress, then the sources the answer may cite", () => {
    const searching = { type: "search", message_id: 32, status: "searching", query: "news", urls: [], sources: [] };
    const sources = [{ number: 1, title: "Tides", url: "https://tides.example/" }];
    const { state, effects } = run(streaming(), searching, { ...searching, status: "done", sources });
    const answer = answerById(state, 32);
    assert.equal(answer.search.status, "done");
    assert.deepEqual(answer.sources, sources);
    assert.deepEqual(
      ofType(effects, "searched").map((effect) => effect.sourcesChanged),
      [false, true]
    );
  });

  test("a failed search says why; the answer still comes", () => {
    const failed = { type: "search", message_id: 32, status: "done", query: "news", urls: [], sources: [], error: "timeout" };
    const { state } = run(streaming(), failed, token(1, "Anyway"));
    assert.equal(answerById(state, 32).searchError, "timeout");
    assert.equal(answerById(state, 32).text, "Anyway");
  });

  test("a link that could not be read is named with why, apart from the search", () => {
    const link = { url: "http://10.0.0.1/admin", reason: "10.0.0.1 points to a private address" };
    const read = { type: "search", message_id: 32, status: "done", query: "", urls: [link.url], sources: [], unread_links: [link] };
    const { state } = run(streaming(), read);
    assert.deepEqual(answerById(state, 32).unreadLinks, [link]);
    assert.equal(answerById(state, 32).searchError, null);
  });

  test("blocked retracts the streamed text and shows the refusal; done follows", () => {
    const refused = run(streaming(), token(1, "Here is how"), {
      type: "blocked",
      message_id: 32,
      detail: "I can't help with that.",
    });
    assert.equal(answerById(refused.state, 32).text, "");
    assert.equal(answerById(refused.state, 32).blocked, "I can't help with that.");
    assert.equal(answerById(refused.state, 32).lastSeq, 1, "replayed frames are still recognised");
    assert.deepEqual(ofType(refused.effects, "retracted"), [{ type: "retracted", key: "c1" }]);

    const ended = run(
      refused.state,
      done(1, { finish_reason: "blocked", error: "I can't help with that.", error_code: "blocked" })
    );
    assert.equal(answerById(ended.state, 32).status, "blocked");
    assert.equal(answerById(ended.state, 32).blocked, "I can't help with that.");
  });

  test("done blocked without words keeps an empty refusal (the page says it in its own words)", () => {
    const { state } = run(streaming(), token(1, "Partial"), done(1, { finish_reason: "blocked" }));
    assert.equal(answerById(state, 32).text, "");
    assert.equal(answerById(state, 32).blocked, "");
  });
});

describe("memory_updated", () => {
  const memoryUpdated = (items, messageId = 32) => ({
    type: "memory_updated",
    message_id: messageId,
    user_message_id: 31,
    items,
  });

  test("the facts kept from an exchange are noted on its answer, once each", () => {
    const vegetarian = { id: 4, text: "Is vegetarian." };
    const lisbon = { id: 5, text: "Lives in Lisbon." };
    const { state, effects } = run(
      run(streaming(), token(1, "Noted."), done(1)).state,
      memoryUpdated([vegetarian]),
      memoryUpdated([vegetarian, lisbon]),
      memoryUpdated([lisbon])
    );
    assert.deepEqual(answerById(state, 32).memoryUpdated, [vegetarian, lisbon]);
    assert.deepEqual(ofType(effects, "memory_noted"), [
      { type: "memory_noted", key: "c1" },
      { type: "memory_noted", key: "c1" },
    ]);
  });

  test("a frame for an answer this page does not show changes nothing", () => {
    const before = streaming();
    const { state, effects } = run(before, memoryUpdated([{ id: 4, text: "Is vegetarian." }], 99));
    assert.equal(state.answers, before.answers);
    assert.deepEqual(effects, []);
  });

  test("a stored answer brings what memory kept from its exchange, for a reload", () => {
    const kept = [{ id: 4, text: "Is vegetarian." }];
    const { state } = run(initialState(), {
      type: "loaded",
      conversationId: 7,
      messages: [{ id: 32, role: "assistant", content: "Noted.", status: "complete", seq: 1, memory_updated: kept }],
    });
    assert.deepEqual(answerById(state, 32).memoryUpdated, kept);
  });
});

describe("error frames", () => {
  test("an error with the client_id of a message not yet acknowledged takes that message back", () => {
    const refused = { type: "error", code: "rate_limited", detail: "Slow down.", client_id: "c1", retry_after: 30 };
    const { state, effects } = run(
      initialState(),
      { type: "connected" },
      { type: "send_message", clientId: "c1", conversationId: 7, text: "Hi!" },
      refused
    );
    assert.equal(state.pending.size, 0);
    assert.equal(state.answers.size, 0);
    assert.deepEqual(ofType(effects, "message_failed"), [
      { type: "message_failed", key: "c1", clientId: "c1", text: "Hi!", error: refused },
    ]);
  });

  test("an error with an unknown client_id is a notice", () => {
    const refused = { type: "error", code: "empty_text", detail: "Empty.", client_id: "gone" };
    const { effects } = run(streaming(), refused);
    assert.deepEqual(effects, [{ type: "notice", error: refused }]);
  });

  test("not_streaming (a stop that crossed the end) is not shown", () => {
    const { effects } = run(streaming(), { type: "error", code: "not_streaming", detail: "Not streaming." });
    assert.deepEqual(effects, []);
  });

  test("an error while a regenerate waits for its ack fails the regenerate", () => {
    const before = run(streaming(), done(0), regenerate);
    assert.deepEqual(sent(before.effects).at(-1), { type: "regenerate", conversation_id: 7 });
    const refused = { type: "error", code: "turn_in_progress", detail: "Busy." };
    const { state, effects } = run(before.state, refused);
    assert.equal(state.regenerating, null);
    assert.equal(state.answers.has("r1"), false);
    assert.equal(state.answers.has("c1"), true, "the answer it would replace stays");
    assert.deepEqual(ofType(effects, "regenerate_failed"), [
      { type: "regenerate_failed", key: "r1", replacedKey: "c1", conversationId: 7, cause: "refused", error: refused },
    ]);
  });
});

describe("regenerate", () => {
  test("its ack replaces the old answer with the new one", () => {
    const { state, effects } = run(
      streaming(),
      done(0),
      regenerate,
      { type: "ack", client_id: null, conversation_id: 7, user_message_id: 31, message_id: 40 }
    );
    assert.equal(state.answers.has("c1"), false);
    assert.equal(answerById(state, 40).key, "r1");
    assert.equal(answerById(state, 40).status, "streaming");
    assert.equal(ofType(effects, "acked").at(-1).replacedKey, "c1");
  });

  test("no ack in time fails it; a late timer of another regenerate does nothing", () => {
    const waiting = run(streaming(), done(0), regenerate).state;
    assert.deepEqual(run(waiting, { type: "regenerate_timeout", key: "r0" }).effects, []);
    const { effects } = run(waiting, { type: "regenerate_timeout", key: "r1" });
    assert.equal(ofType(effects, "regenerate_failed")[0].cause, "timeout");
  });
});

describe("reconnecting", () => {
  test("after a reconnect: unacknowledged messages go again, answers resume from the last frame", () => {
    const before = run(
      streaming(),
      token(1, "a"),
      token(2, "b"),
      { type: "disconnected" },
      { type: "stop", key: "c1" },
      { type: "send_message", clientId: "c2", conversationId: 8, text: "Still there?" }
    );
    assert.deepEqual(sent(before.effects), [], "nothing is sent while disconnected");

    const { effects } = run(before.state, { type: "connected" });
    assert.deepEqual(sent(effects), [
      { type: "message", conversation_id: 8, text: "Still there?", client_id: "c2" },
      { type: "resume", message_id: 32, after_seq: 2 },
      { type: "stop", message_id: 32 },
    ]);
  });

  test("a resumed answer continues where it was, dropping the frames it already has", () => {
    const before = run(streaming(), token(1, "a"), { type: "disconnected" }, { type: "connected" });
    const { state } = run(before.state, token(1, "a"), token(2, "b"), done(2));
    assert.equal(answerById(state, 32).text, "ab");
    assert.equal(answerById(state, 32).status, "complete");
  });

  test("a regenerate without an ack is given up (the conversation is reloaded)", () => {
    const before = run(streaming(), done(0), { type: "disconnected" }, regenerate);
    const { state, effects } = run(before.state, { type: "connected" });
    assert.equal(state.regenerating, null);
    assert.equal(ofType(effects, "regenerate_failed")[0].cause, "reconnected");
  });

  test("an ended session takes back every message not yet acknowledged", () => {
    const before = run(initialState(), { type: "send_message", clientId: "c1", conversationId: null, text: "Hi!" });
    const { state, effects } = run(before.state, { type: "session_ended" });
    assert.equal(state.pending.size, 0);
    assert.deepEqual(ofType(effects, "message_failed"), [
      { type: "message_failed", key: "c1", clientId: "c1", text: "Hi!", error: null },
    ]);
  });
});

describe("stored conversations", () => {
  const stored = (fields) => ({
    id: 32,
    role: "assistant",
    content: "Hello",
    status: "streaming",
    seq: 1,
    finish_reason: null,
    error: null,
    ...fields,
  });

  test("a stored answer still streaming is shown and resumed after its stored frames", () => {
    const { state, effects } = run(initialState(), { type: "connected" }, {
      type: "loaded",
      conversationId: 7,
      messages: [
        { id: 31, role: "user", content: "Hi!", status: "complete" },
        stored({ seq: 5, content: "Hello there" }),
      ],
    });
    const answer = answerById(state, 32);
    assert.equal(answer.key, "m32");
    assert.equal(answer.text, "Hello there");
    assert.deepEqual(sent(effects), [{ type: "resume", message_id: 32, after_seq: 5 }]);
  });

  test("an answer followed live is kept when the stored copy is older", () => {
    const live = run(streaming(), token(1, "Hello"), token(2, " there")).state;
    const { state, effects } = run(live, { type: "loaded", conversationId: 7, messages: [stored({ seq: 1 })] });
    assert.equal(state.answers.get("c1"), live.answers.get("c1"));
    assert.deepEqual(effects, []);
  });

  test("a stale copy is replaced by the stored one, under the same key", () => {
    const live = run(streaming(), token(1, "Hello"), { type: "stop", key: "c1" }).state;
    const { state, effects } = run(live, {
      type: "loaded",
      conversationId: 7,
      messages: [stored({ seq: 4, content: "Hello, world" })],
    });
    const answer = state.answers.get("c1");
    assert.equal(answer.text, "Hello, world");
    assert.equal(answer.lastSeq, 4);
    assert.equal(answer.stopRequested, true, "a stop asked for is not forgotten");
    assert.deepEqual(ofType(effects, "replaced"), [{ type: "replaced", key: "c1" }]);
    assert.deepEqual(sent(effects), [{ type: "resume", message_id: 32, after_seq: 4 }]);
  });

  test("a stored answer keeps the pictures its code saved, for a reload", () => {
    const png = "data:image/png;base64,iVBORw0KGgo=";
    const { state } = run(initialState(), {
      type: "loaded",
      conversationId: 7,
      messages: [stored({ status: "complete", finish_reason: "stop", code_images: [png] })],
    });
    assert.deepEqual(answerById(state, 32).codeImages, [png]);
  });

  test("a stored refusal shows the refusal, not the text", () => {
    const { state } = run(initialState(), {
      type: "loaded",
      conversationId: 7,
      messages: [stored({ status: "blocked", content: "I can't help with that.", finish_reason: "blocked" })],
    });
    assert.equal(answerById(state, 32).text, "");
    assert.equal(answerById(state, 32).blocked, "I can't help with that.");
  });

  test("deleting a conversation forgets its answers", () => {
    const { state, effects } = run(streaming(), { type: "forget_conversation", conversationId: 7 });
    assert.equal(state.answers.size, 0);
    assert.deepEqual(effects, [{ type: "forgotten", key: "c1" }]);
  });
});

describe("waiting for the model", () => {
  test("a queued frame is kept unshown and arms the timer that shows it", () => {
    const { state, effects } = run(streaming(), queued(2));
    assert.deepEqual(answerById(state, 32).queue, { position: 2, shown: false });
    assert.deepEqual(effects, [{ type: "watch_queue", key: "c1" }]);
  });

  test("after the wait the place is shown, and each new place redraws it", () => {
    const waited = run(streaming(), queued(2), { type: "queue_timeout", key: "c1" });
    assert.deepEqual(answerById(waited.state, 32).queue, { position: 2, shown: true });
    assert.deepEqual(waited.effects.slice(1), [{ type: "queued", key: "c1" }]);
    const moved = run(waited.state, queued(1));
    assert.deepEqual(answerById(moved.state, 32).queue, { position: 1, shown: true });
    assert.deepEqual(moved.effects, [{ type: "queued", key: "c1" }]);
  });

  test("a new place before the wait is over only updates it: the timer is armed once", () => {
    const { state, effects } = run(streaming(), queued(3), queued(2));
    assert.deepEqual(answerById(state, 32).queue, { position: 2, shown: false });
    assert.equal(ofType(effects, "watch_queue").length, 1);
    assert.deepEqual(ofType(effects, "queued"), []);
  });

  test("the first token ends the wait, and the timer firing later shows nothing", () => {
    const { state, effects } = run(streaming(), queued(1), token(1, "Hi"), { type: "queue_timeout", key: "c1" });
    const answer = answerById(state, 32);
    assert.equal(answer.queue, null);
    assert.equal(answer.text, "Hi");
    assert.deepEqual(ofType(effects, "queued"), []);
  });

  test("a queued frame after text has come is ignored", () => {
    const { state, effects } = run(streaming(), token(1, "Hi"), queued(1));
    assert.equal(answerById(state, 32).queue, null);
    assert.deepEqual(effects.filter((effect) => effect.type !== "streamed"), []);
  });

  test("done and refusals end the wait", () => {
    const shown = run(streaming(), queued(1), { type: "queue_timeout", key: "c1" }).state;
    const stopped = run(shown, done(0, { finish_reason: "cancelled" })).state;
    assert.equal(answerById(stopped, 32).queue, null);
    const refused = run(shown, { type: "blocked", message_id: 32, detail: "No." }).state;
    assert.equal(answerById(refused, 32).queue, null);
  });

  test("a queued frame for an answer this page does not know is ignored", () => {
    const before = streaming();
    const { state, effects } = run(before, queued(1, 99));
    assert.equal(state.answers, before.answers);
    assert.deepEqual(effects, []);
  });
});

describe("purity", () => {
  test("reduce never changes the state it is given", () => {
    const before = run(streaming(), token(1, "a"), token(3, "c")).state;
    const snapshot = structuredClone(before);
    run(
      before,
      token(2, "b"),
      { type: "blocked", message_id: 32, detail: "No." },
      done(3, { finish_reason: "blocked" }),
      { type: "disconnected" },
      { type: "send_message", clientId: "c2", conversationId: 7, text: "Again" },
      { type: "forget_conversation", conversationId: 7 }
    );
    assert.deepEqual(before, snapshot);
  });

  test("an unknown frame type is ignored", () => {
    const before = streaming();
    const { state, effects } = run(before, { type: "future_frame", message_id: 32 }, { type: "toString" });
    assert.equal(state.answers, before.answers);
    assert.deepEqual(effects, []);
  });
});
