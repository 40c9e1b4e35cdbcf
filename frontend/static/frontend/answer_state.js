/* The chat page's answers as data: a pure reducer over the server's answer frames (docs/protocol.md,
 * "WebSocket /ws/chat") and the page's own requests. No DOM, no timers, no globals.
 *
 * reduce(state, event) returns the next state and never changes the one it is given. The next
 * state's `effects` list what the page must do now: frames to send, gap timers to arm or cancel,
 * answers to redraw. chat.js carries them out and feeds timers and socket changes back as events.
 *
 * An answer: {key, id, conversationId, status, text, lastSeq, buffer, finishReason, error,
 *   errorCode, search, sources, searchError, unreadLinks, invalidCitations, codeWarnings, image, codeImages,
 *   blocked, memoryUpdated, memoryConsent, queue, stopRequested, recovering, gapWatched}
 *   key: the page's name for it, fixed for its life (the client_id of the message it answers, a
 *     fresh id for a regenerate, "m<id>" for one first seen in a stored conversation);
 *   id: the server's message id, null until the ack;
 *   status: "pending" (no ack yet) or a stored status (streaming, complete, cancelled, error,
 *     interrupted, blocked);
 *   buffer: token frames that came after a missing one (seq -> text);
 *   codeImages: data URLs of pictures the model's code saved, shown after the text;
 *   blocked: the refusal shown instead of the answer ("" when the server gave no words), or null;
 *   memoryUpdated: the facts memory kept from this exchange ([{id, text}]: `memory_updated`);
 *   memoryConsent: sensitive facts of this exchange memory asks about, unanswered ([{text, token}]:
 *     `memory_consent`; a question lives on this page only);
 *   queue: {position, shown} while the answer waits for the model (a `queued` frame came and no
 *     token yet), else null; `shown` once it has waited long enough to say so (queue_timeout);
 *   recovering: a `done` showed missing frames and a resume for them is on its way.
 */

import { editFrame } from "./versions.js";

const FINAL_STATUSES = ["complete", "cancelled", "error", "interrupted", "blocked"];

export function isFinal(status) {
  return FINAL_STATUSES.includes(status);
}

/** The stored status an answer ends with, from the `done` frame's finish_reason. */
export function statusFor(finishReason) {
  switch (finishReason) {
    case "stop":
    case "length":
      return "complete";
    case "cancelled":
    case "error":
    case "blocked":
      return finishReason;
    default:
      return "interrupted";
  }
}

export function initialState() {
  return {
    connected: false,
    answers: new Map(), // key -> answer, every answer known to this page, in the order first seen
    pending: new Map(), // client_id -> {clientId, conversationId, text, temporary, editOf}: messages without an ack
    regenerating: null, // {key, conversationId, replacedKey} while a regenerate waits for its ack
    effects: [],
  };
}

function newAnswer(fields) {
  return {
    key: null,
    id: null,
    conversationId: null,
    status: "pending",
    text: "",
    lastSeq: 0,
    buffer: new Map(),
    finishReason: null,
    error: null,
    errorCode: null,
    search: null,
    sources: [],
    searchError: null,
    unreadLinks: [],
    invalidCitations: [],
    codeWarnings: [],
    image: null,
    codeImages: [],
    blocked: null,
    memoryUpdated: [],
    memoryConsent: [],
    queue: null,
    stopRequested: false,
    recovering: false,
    gapWatched: false,
    ...fields,
  };
}

/** An answer as the REST API stores it (`GET /api/conversations/{id}/messages`). */
function answerFromMessage(message, conversationId, known) {
  const blocked = message.status === "blocked";
  return newAnswer({
    key: known ? known.key : "m" + message.id,
    id: message.id,
    conversationId,
    status: message.status,
    text: blocked ? "" : message.content || "",
    lastSeq: message.seq || 0,
    finishReason: message.finish_reason,
    error: message.error,
    sources: message.sources || [],
    searchError: message.search_error || null,
    unreadLinks: message.unread_links || [],
    invalidCitations: message.invalid_citations || [],
    codeWarnings: message.code_warnings || [],
    image: message.image || null,
    codeImages: message.code_images || [],
    blocked: blocked ? message.content || "" : null,
    memoryUpdated: message.memory_updated || [],
    stopRequested: known ? known.stopRequested : false,
  });
}

export function answerById(state, id) {
  for (const answer of state.answers.values()) {
    if (answer.id === id) return answer;
  }
  return null;
}

// --- building the next state ----------------------------------------------------------------

function put(state, answer) {
  return { ...state, answers: new Map(state.answers).set(answer.key, answer) };
}

function drop(state, key) {
  const answers = new Map(state.answers);
  answers.delete(key);
  return { ...state, answers };
}

function emit(state, effect) {
  return { ...state, effects: [...state.effects, effect] };
}

/** A frame for the server; while the socket is down it is not sent (reconnecting resends what matters). */
function send(state, frame) {
  return state.connected ? emit(state, { type: "send", frame }) : state;
}

function messageFrame(pending) {
  if (pending.editOf !== null) {
    const { conversationId, editOf: messageId, text, clientId } = pending;
    return editFrame({ conversationId, messageId, text, clientId });
  }
  const frame = {
    type: "message",
    conversation_id: pending.conversationId,
    text: pending.text.trim(),
    client_id: pending.clientId,
    ...(pending.attachmentId !== null && { attachment_id: pending.attachmentId }),
    ...(pending.editPictureOf !== null && { edit_picture_of: pending.editPictureOf }),
  };
  // Only a new conversation can start temporary; the server keeps later turns of one temporary itself.
  return pending.temporary && pending.conversationId === null ? { ...frame, temporary: true } : frame;
}

function resumeFrame(answer) {
  return { type: "resume", message_id: answer.id, after_seq: answer.lastSeq };
}

function stopFrame(answer) {
  return { type: "stop", message_id: answer.id };
}

// --- frames from the server -------------------------------------------------------------------

function onAck(state, frame) {
  const answersMessage = frame.client_id !== null && frame.client_id !== undefined; // else a regenerate
  return answersMessage ? ackMessage(state, frame) : ackRegenerate(state, frame);
}

function ackMessage(state, frame) {
  const sent = state.pending.get(frame.client_id);
  if (!sent) return state;
  const pending = new Map(state.pending);
  pending.delete(sent.clientId);
  return startAnswer({ ...state, pending }, sent.clientId, frame, {
    clientId: sent.clientId,
    startedConversation: sent.conversationId === null,
    temporary: sent.temporary,
    replacedKey: null,
  });
}

function ackRegenerate(state, frame) {
  const regenerating = state.regenerating;
  if (!regenerating || regenerating.conversationId !== frame.conversation_id) return state;
  // The replaced answer stays on the server as an earlier version (the switcher shows it again).
  const next = drop({ ...state, regenerating: null }, regenerating.replacedKey);
  return startAnswer(next, regenerating.key, frame, {
    clientId: null,
    startedConversation: false,
    temporary: false,
    replacedKey: regenerating.replacedKey,
  });
}

/** The ack names the answer's message id: it streams from now on (and a stop asked before goes out). */
function startAnswer(state, key, frame, acked) {
  const answer = {
    ...state.answers.get(key),
    id: frame.message_id,
    conversationId: frame.conversation_id,
    status: "streaming",
  };
  const next = emit(put(state, answer), {
    type: "acked",
    key,
    conversationId: frame.conversation_id,
    userMessageId: frame.user_message_id,
    ...acked,
  });
  return answer.stopRequested ? send(next, stopFrame(answer)) : next;
}

function onToken(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer || frame.seq <= answer.lastSeq) return state; // unknown, or applied already
  const buffer = new Map(answer.buffer).set(frame.seq, frame.text);
  let text = answer.text;
  let lastSeq = answer.lastSeq;
  while (buffer.has(lastSeq + 1)) {
    lastSeq += 1;
    text += buffer.get(lastSeq);
    buffer.delete(lastSeq);
  }
  // A frame is missing: if it is still missing when the gap timer fires, ask for it.
  const watch = buffer.size > 0 && !answer.gapWatched;
  // Text came: the answer no longer waits for the model.
  let next = put(state, { ...answer, text, lastSeq, buffer, gapWatched: answer.gapWatched || watch, queue: null });
  if (watch) next = emit(next, { type: "watch_gap", key: answer.key });
  return emit(next, { type: "streamed", key: answer.key });
}

function onDone(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer) return emit(state, { type: "finished", key: null, wasFinal: false });
  if (frame.seq > answer.lastSeq && !answer.recovering && state.connected) {
    // Frames are missing: a resume of an ended answer sends them, then `done` again.
    return send(put(state, { ...answer, recovering: true }), resumeFrame(answer));
  }
  const blocked = frame.finish_reason === "blocked";
  let next = answer.gapWatched ? emit(state, { type: "cancel_gap", key: answer.key }) : state;
  next = put(next, {
    ...answer,
    status: statusFor(frame.finish_reason),
    finishReason: frame.finish_reason,
    error: frame.error || null,
    errorCode: frame.error_code || null,
    invalidCitations: frame.invalid_citations || [],
    codeWarnings: frame.code_warnings || [],
    image: frame.image || null,
    codeImages: frame.code_images || [],
    text: blocked ? "" : answer.text,
    blocked: blocked ? frame.error || answer.blocked || "" : answer.blocked,
    queue: null,
    buffer: new Map(),
    recovering: false,
    gapWatched: false,
    stopRequested: false,
  });
  return emit(next, { type: "finished", key: answer.key, wasFinal: isFinal(answer.status) });
}

function onSearch(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer) return state;
  const done = frame.status === "done";
  const found = done
    ? { sources: frame.sources || [], searchError: frame.error || null, unreadLinks: frame.unread_links || [] }
    : {};
  const next = put(state, { ...answer, search: frame, ...found });
  return emit(next, { type: "searched", key: answer.key, sourcesChanged: done });
}

/** Memory kept facts from an answer's exchange (sent seconds after its `done`). A fact kept again
 * (a repeated frame) is listed once. */
function onMemoryUpdated(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer) return state;
  const known = new Set(answer.memoryUpdated.map((item) => item.id));
  const added = (frame.items || []).filter((item) => !known.has(item.id));
  if (!added.length) return state;
  const next = put(state, { ...answer, memoryUpdated: [...answer.memoryUpdated, ...added] });
  return emit(next, { type: "memory_noted", key: answer.key });
}

/** Memory asks whether to keep sensitive facts of an answer's exchange; a repeated question is kept once. */
function onMemoryConsent(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer) return state;
  const asked = new Set(answer.memoryConsent.map((fact) => fact.token));
  const added = (frame.facts || []).filter((fact) => !asked.has(fact.token));
  if (!added.length) return state;
  const next = put(state, { ...answer, memoryConsent: [...answer.memoryConsent, ...added] });
  return emit(next, { type: "memory_noted", key: answer.key });
}

/** The person answered "Remember that …?": the question goes; `item` ({id, text}), when they said
 * yes and the server kept it, is noted as kept. */
function onConsentAnswered(state, event) {
  const answer = state.answers.get(event.key);
  if (!answer) return state;
  const memoryConsent = answer.memoryConsent.filter((fact) => fact.token !== event.token);
  const kept = event.item && !answer.memoryUpdated.some((item) => item.id === event.item.id);
  const memoryUpdated = kept ? [...answer.memoryUpdated, event.item] : answer.memoryUpdated;
  const next = put(state, { ...answer, memoryConsent, memoryUpdated });
  return emit(next, { type: "memory_noted", key: answer.key });
}

/** The safety check refused the answer: its text is retracted and the refusal shown instead. */
function onBlocked(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer) return state;
  const next = put(state, { ...answer, text: "", blocked: frame.detail || "", queue: null });
  return emit(next, { type: "retracted", key: answer.key });
}

/** The answer waits for the model, `position` people ahead: said only once it has waited a while
 * (watch_queue arms the timer, queue_timeout shows it), and never once its text has begun. */
function onQueued(state, frame) {
  const answer = answerById(state, frame.message_id);
  if (!answer || answer.status !== "streaming" || answer.lastSeq > 0 || answer.buffer.size > 0) return state;
  if (answer.queue === null) {
    const next = put(state, { ...answer, queue: { position: frame.position, shown: false } });
    return emit(next, { type: "watch_queue", key: answer.key });
  }
  const next = put(state, { ...answer, queue: { ...answer.queue, position: frame.position } });
  return answer.queue.shown ? emit(next, { type: "queued", key: answer.key }) : next;
}

function onError(state, frame) {
  if (frame.client_id) {
    const sent = state.pending.get(frame.client_id);
    return sent ? failMessage(state, sent, frame) : emit(state, { type: "notice", error: frame });
  }
  // A stop that crossed the end of the answer: its `done` says how it ended.
  if (frame.code === "not_streaming") return state;
  if (state.regenerating && frame.code !== "invalid_json") return failRegenerate(state, "refused", frame);
  return emit(state, { type: "notice", error: frame });
}

/** The message is not stored: it leaves the page (its text goes back to the composer). */
function failMessage(state, sent, error) {
  const pending = new Map(state.pending);
  pending.delete(sent.clientId);
  const next = drop({ ...state, pending }, sent.clientId);
  return emit(next, { type: "message_failed", key: sent.clientId, clientId: sent.clientId, text: sent.text, error });
}

/** cause: "refused" (an error frame), "timeout" (no ack in time), "reconnected" (fate unknown). */
function failRegenerate(state, cause, error) {
  const regenerating = state.regenerating;
  const next = drop({ ...state, regenerating: null }, regenerating.key);
  return emit(next, {
    type: "regenerate_failed",
    key: regenerating.key,
    replacedKey: regenerating.replacedKey,
    conversationId: regenerating.conversationId,
    cause,
    error,
  });
}

// --- the page's own events --------------------------------------------------------------------

function onSendMessage(state, event) {
  const sent = {
    clientId: event.clientId,
    conversationId: event.conversationId,
    text: event.text,
    temporary: event.temporary === true,
    editOf: event.editOf ?? null, // the user message this one is a new version of (an edit)
    attachmentId: event.attachmentId ?? null, // a photo or voice message uploaded for it (attachments.js)
    editPictureOf: event.editPictureOf ?? null, // the message whose picture it edits (a picture's Edit button)
  };
  const next = put(
    { ...state, pending: new Map(state.pending).set(sent.clientId, sent) },
    newAnswer({ key: sent.clientId, conversationId: sent.conversationId })
  );
  return send(next, messageFrame(sent));
}

function onStop(state, event) {
  const answer = state.answers.get(event.key);
  if (!answer || answer.stopRequested) return state;
  const next = put(state, { ...answer, stopRequested: true });
  // Without an id (no ack yet) or a socket, the stop goes out once they exist.
  return answer.id === null ? next : send(next, stopFrame(answer));
}

function onRegenerate(state, event) {
  const regenerating = { key: event.key, conversationId: event.conversationId, replacedKey: event.replacedKey };
  const next = put({ ...state, regenerating }, newAnswer({ key: event.key, conversationId: event.conversationId }));
  return send(next, { type: "regenerate", conversation_id: event.conversationId });
}

function onRegenerateTimeout(state, event) {
  if (!state.regenerating || state.regenerating.key !== event.key) return state;
  return failRegenerate(state, "timeout", null);
}

function onQueueTimeout(state, event) {
  const answer = state.answers.get(event.key);
  if (!answer || answer.queue === null || answer.queue.shown) return state;
  const next = put(state, { ...answer, queue: { ...answer.queue, shown: true } });
  return emit(next, { type: "queued", key: answer.key });
}

function onGapTimeout(state, event) {
  const answer = state.answers.get(event.key);
  if (!answer || !answer.gapWatched) return state;
  const next = put(state, { ...answer, gapWatched: false });
  return answer.buffer.size ? send(next, resumeFrame(answer)) : next;
}

function onConnected(state) {
  let next = { ...state, connected: true };
  // Messages never acknowledged go again with the same client_id (the server stores them once).
  for (const sent of next.pending.values()) next = send(next, messageFrame(sent));
  // A regenerate without an ack may or may not have reached the server: the page reloads to see.
  if (next.regenerating) next = failRegenerate(next, "reconnected", null);
  // Answers in progress continue from the last frame applied.
  for (const answer of next.answers.values()) {
    if (answer.status !== "streaming" && !answer.recovering) continue;
    next = send(next, resumeFrame(answer));
    if (answer.stopRequested) next = send(next, stopFrame(answer));
  }
  return next;
}

function onDisconnected(state) {
  return { ...state, connected: false };
}

/** The server closed the socket for good (no session): nothing unsent can be sent any more. */
function onSessionEnded(state) {
  let next = { ...state, connected: false };
  for (const sent of state.pending.values()) next = failMessage(next, sent, null);
  return next;
}

/** A conversation's stored messages were loaded: take each answer unless ours is fresher. */
function onLoaded(state, event) {
  let next = state;
  for (const message of event.messages) {
    if (message.role === "assistant") next = loadAnswer(next, message, event.conversationId);
  }
  return next;
}

function loadAnswer(state, message, conversationId) {
  const known = answerById(state, message.id);
  // Followed live here already: our copy is at least as fresh as the stored one.
  if (known && !isFinal(known.status) && known.lastSeq >= message.seq) return state;
  const answer = answerFromMessage(message, conversationId, known);
  let next = put(state, answer);
  if (known) next = emit(next, { type: "replaced", key: known.key });
  if (known && known.gapWatched) next = emit(next, { type: "cancel_gap", key: known.key });
  // Show what is stored and continue it live from there.
  return answer.status === "streaming" ? send(next, resumeFrame(answer)) : next;
}

/** A deleted conversation: its answers are forgotten (those still waiting for an ack stay). */
function onForgetConversation(state, event) {
  let next = state;
  for (const answer of state.answers.values()) {
    if (answer.id === null || answer.conversationId !== event.conversationId) continue;
    next = emit(drop(next, answer.key), { type: "forgotten", key: answer.key });
  }
  return next;
}

const HANDLERS = {
  // frames from the server
  ack: onAck,
  token: onToken,
  done: onDone,
  search: onSearch,
  blocked: onBlocked,
  queued: onQueued,
  error: onError,
  memory_updated: onMemoryUpdated,
  memory_consent: onMemoryConsent,
  version_selected: (state, frame) => emit(state, { type: "version_selected", conversationId: frame.conversation_id }),
  // the page's events
  send_message: onSendMessage,
  consent_answered: onConsentAnswered,
  stop: onStop,
  regenerate: onRegenerate,
  regenerate_timeout: onRegenerateTimeout,
  gap_timeout: onGapTimeout,
  queue_timeout: onQueueTimeout,
  connected: onConnected,
  disconnected: onDisconnected,
  session_ended: onSessionEnded,
  loaded: onLoaded,
  forget_conversation: onForgetConversation,
};

/** The next state after `event`: a server frame (by its `type`) or one of the page's events above. */
export function reduce(state, event) {
  const handler = Object.hasOwn(HANDLERS, event.type) ? HANDLERS[event.type] : null;
  const next = { ...state, effects: [] };
  return handler ? handler(next, event) : next; // a newer server may add frame types: ignored
}
