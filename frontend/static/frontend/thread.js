/* The open conversation's messages on screen, and what screen readers hear of them.
 *
 * An entry is one message in the list: {key, role, user, announced, reported, el, bodyEl, noteEl,
 * typingEl, queueEl, extrasEl, actionsEl}. An answer's entry holds only its `key`: its data is the answer
 * in answer_state.js, read through `answerFor(key)` at every render. A user message's entry holds
 * its data itself in `user` ({id, status, text}; status "sending" until the ack, then stored).
 * `announced` counts the characters of the shown text already read out (Infinity: all of it), and
 * `announcedText` is that text as it was shown then.
 */

import {
  codeImagesFigure,
  codeWarningsNote,
  copyText,
  imageFigure,
  renderAnswer,
  searchErrorNote,
  searchProgress,
  sourcesPanel,
} from "./answer_render.js";
import { isFinal } from "./answer_state.js";
import { t } from "./i18n.js";
import { messageElement } from "./message_element.js";
import { FRIENDLY_ERRORS } from "./notices.js";
import { lastSentenceEnd, sharedPrefixLength, wordStart } from "./text.js";

const NEAR_BOTTOM_PX = 80;
const MAX_ANNOUNCEMENTS = 20; // sentences kept in the screen-reader live region

function busy(status) {
  return status === "pending" || status === "streaming";
}

/** els: {thread, messages, announcer}; answerFor(key) -> the answer; onReport(entry);
 * onOpenMemory() shows Settings → Memory. */
export function createThread({ els, answerFor, onReport, onOpenMemory }) {
  const shown = []; // entries of the open conversation, in order
  const answerEntries = new Map(); // key -> entry, for every answer this page has drawn
  const dirty = new Set();
  let frameRequest = 0;

  function messageOf(entry) {
    return entry.role === "user" ? entry.user : answerFor(entry.key);
  }

  function newEntry(fields) {
    const elements = {
      el: null,
      bodyEl: null,
      noteEl: null,
      typingEl: null,
      queueEl: null,
      extrasEl: null,
      actionsEl: null,
    };
    const base = { key: null, role: "assistant", user: null, announced: 0, announcedText: "", reported: false };
    return { ...base, ...elements, ...fields };
  }

  /** The entry of an answer; a finished answer seen first now is not read out again. */
  function answerEntry(key) {
    if (!answerEntries.has(key)) {
      answerEntries.set(key, newEntry({ key, announced: isFinal(answerFor(key).status) ? Infinity : 0 }));
    }
    return answerEntries.get(key);
  }

  function userEntry(user) {
    return newEntry({ role: "user", user });
  }

  // --- building and drawing one message --------------------------------------------------

  function buildMessageEl(entry) {
    const { item, bubble, body } = messageElement(entry.role);
    const note = document.createElement("p");
    note.className = "message-note";
    note.hidden = true;
    const actions = document.createElement("div");
    actions.className = "message-actions";
    Object.assign(entry, { el: item, bodyEl: body, noteEl: note, actionsEl: actions });
    if (entry.role === "assistant") {
      entry.typingEl = typingIndicator();
      entry.queueEl = queueNote();
      bubble.insertBefore(entry.typingEl, body);
      bubble.insertBefore(entry.queueEl, entry.typingEl);
      entry.extrasEl = document.createElement("div");
      entry.extrasEl.className = "message-extras";
      item.appendChild(entry.extrasEl);
    }
    item.append(note, actions);
    updateAttributes(entry);
    renderBody(entry);
    return item;
  }

  function typingIndicator() {
    const typing = document.createElement("span");
    typing.className = "typing";
    typing.setAttribute("data-testid", "typing");
    typing.hidden = true;
    for (let i = 0; i < 3; i++) {
      const dot = document.createElement("span");
      dot.className = "typing-dot";
      dot.setAttribute("aria-hidden", "true");
      typing.appendChild(dot);
    }
    const label = document.createElement("span");
    label.className = "visually-hidden typing-label";
    typing.appendChild(label);
    return typing;
  }

  /** Where an answer waiting for the model stands in line; a status, so screen readers hear it. */
  function queueNote() {
    const note = document.createElement("p");
    note.className = "queue-note";
    note.setAttribute("data-testid", "queue-note");
    note.setAttribute("role", "status");
    note.hidden = true;
    return note;
  }

  function renderQueue(entry, answer) {
    const shown = busy(answer.status) && answer.queue !== null && answer.queue.shown;
    entry.queueEl.hidden = !shown;
    if (!shown) return;
    const position = answer.queue.position;
    entry.queueEl.textContent = position === 1 ? t("queue_one_ahead") : t("queue_ahead", { count: position });
  }

  /** Status attributes, the note, the extras and the actions: everything but the text. */
  function updateAttributes(entry) {
    if (!entry.el) return;
    const message = messageOf(entry);
    if (message.id !== null) entry.el.setAttribute("data-message-id", String(message.id));
    entry.el.setAttribute("data-status", message.status);
    if (busy(message.status)) entry.el.setAttribute("aria-busy", "true");
    else entry.el.removeAttribute("aria-busy");
    renderNote(entry);
    renderExtras(entry);
    renderActions(entry);
  }

  function refusalText(answer) {
    return answer.blocked || t("note_blocked");
  }

  function renderBody(entry) {
    if (!entry.bodyEl) return;
    const message = messageOf(entry);
    if (entry.role !== "assistant") {
      entry.bodyEl.textContent = message.text;
      return;
    }
    if (message.blocked !== null) {
      const refusal = document.createElement("p");
      refusal.className = "blocked";
      refusal.setAttribute("data-testid", "blocked");
      refusal.textContent = refusalText(message);
      entry.bodyEl.replaceChildren(refusal);
    } else {
      renderAnswer(entry.bodyEl, message.text, {
        sources: message.sources,
        invalidCitations: message.invalidCitations,
        final: isFinal(message.status),
      });
      if (message.image) entry.bodyEl.appendChild(imageFigure(message.image));
      if (message.codeImages.length) entry.bodyEl.appendChild(codeImagesFigure(message.codeImages));
    }
    renderQueue(entry, message);
    const waiting = !entry.queueEl.hidden; // the model has not begun: nobody is writing yet
    entry.typingEl.hidden = !busy(message.status) || message.text !== "" || message.blocked !== null || waiting;
    entry.typingEl.querySelector(".typing-label").textContent = t("typing");
    announceProgress(entry);
  }

  function renderNote(entry) {
    const message = messageOf(entry);
    let text = "";
    let kind = "";
    if (message.status === "cancelled") {
      text = t("note_stopped");
      kind = "stopped";
    } else if (message.status === "error") {
      text = FRIENDLY_ERRORS.includes(message.errorCode)
        ? t(message.errorCode)
        : t("note_error", { detail: message.error || t("error_default") });
      kind = "error";
    } else if (message.status === "interrupted") {
      text = t("note_interrupted", { detail: message.error || t("interrupted_default") });
      kind = "error";
    } else if (message.status === "complete" && message.finishReason === "length") {
      text = t("note_length");
      kind = "length";
    } else if (message.status === "sending") {
      text = t("note_sending");
      kind = "sending";
    }
    entry.noteEl.textContent = text;
    entry.noteEl.setAttribute("data-kind", kind);
    entry.noteEl.hidden = !text;
  }

  /** Search progress, the numbered sources, a failed search, Code Shield's warnings and what memory kept. */
  function renderExtras(entry) {
    const box = entry.extrasEl;
    if (!box) return;
    const answer = messageOf(entry);
    box.textContent = "";
    if (busy(answer.status) && answer.search && answer.search.status === "searching" && !answer.text) {
      box.appendChild(searchProgress(answer.search));
    }
    if (answer.blocked !== null) return;
    if (answer.sources.length) box.appendChild(sourcesPanel(answer.sources));
    if (answer.searchError) box.appendChild(searchErrorNote(answer.searchError));
    if (answer.codeWarnings.length) box.appendChild(codeWarningsNote(answer.codeWarnings));
    if (answer.memoryUpdated.length) box.appendChild(memoryNote(answer.memoryUpdated));
  }

  /** "Memory updated", naming the facts kept, and a way to see or change them. */
  function memoryNote(items) {
    const note = document.createElement("p");
    note.className = "memory-note";
    note.setAttribute("data-testid", "memory-updated");
    const said = document.createElement("span");
    said.textContent = t("memory_updated", { facts: items.map((item) => item.text).join(" ") });
    const manage = document.createElement("button");
    manage.type = "button";
    manage.className = "link-button";
    manage.setAttribute("data-testid", "memory-updated-open");
    manage.textContent = t("memory_manage");
    manage.addEventListener("click", onOpenMemory);
    note.append(said, " ", manage);
    return note;
  }

  /** Copy under every user message; Copy and Report under every finished answer. */
  function renderActions(entry) {
    const bar = entry.actionsEl;
    if (!bar) return;
    if (entry.role === "user") {
      bar.replaceChildren(copyButton(entry.user.text));
      return;
    }
    const answer = messageOf(entry);
    bar.textContent = "";
    bar.hidden = answer.id === null || !isFinal(answer.status);
    if (bar.hidden) return;
    if (answer.blocked === null && answer.text) bar.appendChild(copyButton(answer.text));
    const report = document.createElement("button");
    report.type = "button";
    report.className = "icon-button report";
    report.setAttribute("data-testid", "report");
    report.textContent = t(entry.reported ? "reported" : "report");
    report.disabled = entry.reported;
    report.addEventListener("click", () => onReport(entry));
    bar.appendChild(report);
  }

  function copyButton(text) {
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "icon-button message-copy";
    copy.setAttribute("data-testid", "message-copy");
    copy.textContent = t("copy");
    copy.addEventListener("click", () => copyText(copy, text));
    return copy;
  }

  // --- screen readers: streamed text is announced once per sentence, not once per frame ----

  function announceProgress(entry) {
    if (entry.announced === Infinity || !shown.includes(entry)) return;
    const answer = messageOf(entry);
    const text = answer.blocked !== null ? refusalText(answer) : entry.bodyEl.textContent;
    const final = isFinal(answer.status);
    // Rendering a growing answer can rewrite text already read out ("3." becomes a list's number):
    // go on from the word where the text read out and the text shown stop agreeing.
    const agreed = sharedPrefixLength(entry.announcedText, text);
    const from = agreed < entry.announced ? wordStart(text, agreed) : entry.announced;
    const end = final ? text.length : lastSentenceEnd(text, from);
    if (end <= from) return;
    announce(text.slice(from, end));
    entry.announced = final ? Infinity : end;
    entry.announcedText = text.slice(0, end);
  }

  function announce(text) {
    const clean = text.replace(/\s+/g, " ").trim();
    if (!clean) return;
    while (els.announcer.children.length >= MAX_ANNOUNCEMENTS) els.announcer.firstElementChild.remove();
    const line = document.createElement("p");
    line.textContent = clean;
    els.announcer.appendChild(line);
  }

  // --- when to draw: streamed text at most once per animation frame ---------------------

  function schedule(entry) {
    dirty.add(entry);
    if (!frameRequest) frameRequest = window.requestAnimationFrame(flush);
  }

  function flush() {
    frameRequest = 0;
    const stick = nearBottom();
    dirty.forEach((entry) => {
      if (entry.el && entry.el.isConnected) renderBody(entry);
    });
    dirty.clear();
    if (stick) scrollToBottom();
  }

  function renderNow(entry) {
    dirty.delete(entry);
    if (!entry.el || !entry.el.isConnected) return;
    const stick = nearBottom();
    renderBody(entry);
    updateAttributes(entry);
    if (stick) scrollToBottom();
  }

  function nearBottom() {
    const box = els.thread;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    els.thread.scrollTop = els.thread.scrollHeight;
  }

  // --- the list ---------------------------------------------------------------------------

  function append(entry) {
    shown.push(entry);
    els.messages.appendChild(buildMessageEl(entry));
  }

  function remove(entry) {
    const index = shown.indexOf(entry);
    if (index !== -1) shown.splice(index, 1);
    if (entry.el) entry.el.remove();
  }

  function clear() {
    shown.length = 0;
    els.messages.textContent = "";
  }

  /** The answer of the open conversation still being written (or waiting for its ack), if any. */
  function streamingEntry() {
    for (let i = shown.length - 1; i >= 0; i--) {
      const entry = shown[i];
      if (entry.role === "assistant" && busy(messageOf(entry).status)) return entry;
    }
    return null;
  }

  return {
    answerEntry,
    entryFor: (key) => answerEntries.get(key) || null,
    userEntry,
    forget: (key) => answerEntries.delete(key),
    messageOf,
    append,
    remove,
    clear,
    shows: (entry) => shown.includes(entry),
    nearBottom,
    count: () => shown.length,
    last: () => shown[shown.length - 1] || null,
    streamingEntry,
    updateAttributes,
    renderNow,
    schedule,
    renderExtras,
    renderActions,
    restartAnnouncements: (entry) => {
      entry.announced = 0; // what was read out is retracted: the refusal is read instead
      entry.announcedText = "";
    },
    scrollToBottom,
  };
}
