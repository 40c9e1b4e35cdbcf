/* The open conversation's messages on screen, and what screen readers hear of them.
 *
 * An entry is one message in the list: {key, role, user, announced, reported, el, bodyEl, noteEl,
 * typingEl, queueEl, extrasEl, actionsEl}. An answer's entry holds only its `key`: its data is the answer
 * in answer_state.js, read through `answerFor(key)` at every render. A user message's entry holds
 * its data itself in `user` ({id, status, text, attachment?, editsPictureOf?}; status "sending" until
 * the ack, then stored; `attachment`: the photo or voice message it was sent with, attachments.js;
 * `editsPictureOf`: the id of the message whose picture it edits, sent with a picture's Edit button).
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
  unreadLinksNote,
  searchProgress,
  sourcesPanel,
} from "./answer_render.js";
import { isFinal } from "./answer_state.js";
import { sentAttachment } from "./attachments.js";
import { api } from "./api.js";
import { feedbackControls } from "./feedback.js";
import { t } from "./i18n.js";
import { iconButton } from "./icons.js";
import { editForm, messageElement } from "./message_element.js";
import { FRIENDLY_ERRORS } from "./notices.js";
import { speakerButton } from "./speaker.js";
import { lastSentenceEnd, sharedPrefixLength, wordStart } from "./text.js";
import { cutBranch, switcher } from "./versions.js";

const NEAR_BOTTOM_PX = 80;
const HIGHLIGHT_MS = 2000; // how long a message shown from an "Edit of an earlier picture" line stands out
const MAX_ANNOUNCEMENTS = 20; // sentences kept in the screen-reader live region

function busy(status) {
  return status === "pending" || status === "streaming";
}

/** els: {thread, messages, announcer}; answerFor(key) -> the answer; onReport(entry);
 * onOpenMemory(itemId) shows Settings → Memory at that item; onConsentAnswered(entry, token, item) takes
 * back a "Remember that …?" question (`item`: {id, text} kept on a yes, else null); versions: {of(id) ->
 * ids of the message's versions, select(id), edit(entry, text), maxChars} (versions.js);
 * onEditPicture({messageId, url}) when a picture's Edit button is pressed. */
export function createThread({ els, answerFor, onReport, onOpenMemory, onConsentAnswered, versions, onEditPicture }) {
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
      copyEl: null, // the copy button in the actions (copyButtonOf)
    };
    const base = {
      key: null,
      role: "assistant",
      user: null,
      announced: 0,
      announcedText: "",
      reported: false,
      editing: false, // a user message whose bubble is the edit form
    };
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
    if (entry.role === "user" && entry.user.editsPictureOf) item.insertBefore(pictureEditLine(entry.user), bubble);
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
      if (entry.editing) return; // the bubble is the edit form
      entry.bodyEl.textContent = message.text;
      if (message.attachment) entry.bodyEl.prepend(sentAttachment(message.attachment, photoEdit(message)));
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
      if (message.image) {
        const onEdit = message.id !== null ? editPicture(message.id, message.image.url) : null;
        entry.bodyEl.appendChild(imageFigure(message.image, onEdit));
      }
      if (message.codeImages.length) entry.bodyEl.appendChild(codeImagesFigure(message.codeImages));
    }
    renderQueue(entry, message);
    const waiting = !entry.queueEl.hidden; // the model has not begun: nobody is writing yet
    entry.typingEl.hidden = !busy(message.status) || message.text !== "" || message.blocked !== null || waiting;
    entry.typingEl.querySelector(".typing-label").textContent = t("typing");
    announceProgress(entry);
  }

  /** What a picture's Edit button does: the composer edits the picture of message `messageId`. */
  function editPicture(messageId, url) {
    return () => onEditPicture({ messageId, url });
  }

  /** A sent photo can be edited once its message is stored (the server names pictures by message id). */
  function photoEdit(user) {
    const stored = user.id !== null && user.status !== "sending";
    return stored && user.attachment.kind === "photo" ? editPicture(user.id, user.attachment.url) : null;
  }

  /** "Edit of an earlier picture" above a message sent with a picture's Edit button: a button that
   * shows that picture's message when it is in the thread, else the words alone. */
  function pictureEditLine(user) {
    const target = () => shown.find((entry) => entry.el && messageOf(entry).id === user.editsPictureOf) || null;
    const line = document.createElement(target() ? "button" : "p");
    line.className = "picture-edit-of";
    line.setAttribute("data-testid", "picture-edit-of");
    line.textContent = t("picture_edit_of");
    if (line.tagName === "BUTTON") {
      line.type = "button";
      line.classList.add("link-button");
      line.addEventListener("click", () => {
        const entry = target();
        if (entry) highlight(entry.el);
      });
    }
    return line;
  }

  /** Scrolls `item` into view and makes it stand out for a moment; focus goes there for keyboard and
   * screen-reader users. */
  function highlight(item) {
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    item.scrollIntoView({ block: "center", behavior: still ? "auto" : "smooth" });
    item.setAttribute("tabindex", "-1");
    item.focus({ preventScroll: true });
    item.classList.add("highlighted");
    window.setTimeout(() => item.classList.remove("highlighted"), HIGHLIGHT_MS);
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
    if (answer.unreadLinks.length) box.appendChild(unreadLinksNote(answer.unreadLinks));
    if (answer.codeWarnings.length) box.appendChild(codeWarningsNote(answer.codeWarnings));
    if (answer.memoryUpdated.length) box.appendChild(memoryNote(answer.memoryUpdated));
    answer.memoryConsent.forEach((fact) => box.appendChild(consentQuestion(entry, fact)));
  }

  /** "Remember this? “…”" with Remember and No: a sensitive fact is kept only on a yes (POST /api/memory
   * with the question's token); No, or no answer, keeps nothing. */
  function consentQuestion(entry, fact) {
    const question = document.createElement("p");
    question.className = "memory-note memory-consent";
    question.setAttribute("data-testid", "memory-consent");
    const asked = document.createElement("span");
    asked.textContent = t("memory_consent_question", { fact: fact.text });
    const refusal = document.createElement("span");
    refusal.setAttribute("role", "status");
    const keep = consentButton("memory-consent-keep", "memory_consent_keep");
    const decline = consentButton("memory-consent-decline", "memory_consent_decline");
    keep.addEventListener("click", () => {
      keep.disabled = decline.disabled = true;
      api("POST", "/api/memory", { token: fact.token }).then(
        (item) => onConsentAnswered(entry, fact.token, { id: item.id, text: item.text }),
        (error) => {
          keep.disabled = decline.disabled = false;
          refusal.textContent = error.detail;
        }
      );
    });
    decline.addEventListener("click", () => onConsentAnswered(entry, fact.token, null));
    question.append(asked, " ", keep, " ", decline, " ", refusal);
    return question;
  }

  function consentButton(testId, key) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.setAttribute("data-testid", testId);
    button.textContent = t(key);
    return button;
  }

  /** "Memory updated", naming the facts kept, and a way to see or change them (Settings → Memory at the first). */
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
    manage.addEventListener("click", () => onOpenMemory(items[0].id));
    note.append(said, " ", manage);
    return note;
  }

  /** Copy under every user message; Copy, Report and the thumbs under every finished answer. */
  function renderActions(entry) {
    const bar = entry.actionsEl;
    if (!bar) return;
    if (entry.role === "user") {
      bar.replaceChildren(copyButtonOf(entry));
      bar.hidden = !!entry.editing;
      if (entry.user.id === null || entry.user.status === "sending") return;
      if (!entry.user.attachment) bar.appendChild(editButton(entry)); // a photo or voice message is sent anew
      appendSwitcher(bar, entry.user.id);
      return;
    }
    const answer = messageOf(entry);
    bar.textContent = "";
    bar.hidden = answer.id === null || !isFinal(answer.status);
    if (bar.hidden) return;
    appendSwitcher(bar, answer.id);
    if (answer.blocked === null && answer.text) bar.append(copyButtonOf(entry), speakerButton(answer.id));
    const report = document.createElement("button");
    report.type = "button";
    report.className = "icon-button report";
    report.setAttribute("data-testid", "report");
    report.textContent = t(entry.reported ? "reported" : "report");
    report.disabled = entry.reported;
    report.addEventListener("click", () => onReport(entry));
    bar.appendChild(report);
    bar.appendChild(feedbackControls(answer.id));
  }

  function editButton(entry) {
    const edit = iconButton("message-edit", "rename", t("edit_message"));
    edit.setAttribute("data-testid", "message-edit");
    edit.addEventListener("click", () => startEditing(entry));
    return edit;
  }

  /** "‹ 2/3 ›" when the message has other versions; the arrows show the one before or after. */
  function appendSwitcher(bar, id) {
    const at = switcher(versions.of(id), id);
    if (!at) return;
    const group = document.createElement("div");
    group.className = "version-switcher";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t("version_of", { index: at.index, count: at.count }));
    group.setAttribute("data-testid", "version-switcher");
    const label = document.createElement("span");
    label.className = "version-label";
    label.setAttribute("data-testid", "version-label");
    label.setAttribute("aria-hidden", "true"); // the group's name says it in words
    label.textContent = at.index + "/" + at.count;
    group.append(
      versionArrow("chevron-left", "version_previous", at.previous),
      label,
      versionArrow("chevron-right", "version_next", at.next)
    );
    bar.appendChild(group);
  }

  function versionArrow(iconName, labelKey, target) {
    const arrow = iconButton("version-arrow", iconName, t(labelKey));
    arrow.setAttribute("data-testid", labelKey.replace("_", "-"));
    arrow.disabled = target === null;
    arrow.addEventListener("click", () => versions.select(target));
    return arrow;
  }

  /** The user message's bubble becomes a form: Save & send makes the text a new version of it. */
  function startEditing(entry) {
    entry.editing = true;
    const form = editForm({
      text: entry.user.text,
      maxChars: versions.maxChars,
      onSave: (text) => versions.edit(entry, text),
      onCancel: () => stopEditing(entry),
    });
    entry.bodyEl.replaceChildren(form);
    renderActions(entry);
    form.querySelector("textarea").focus();
  }

  function stopEditing(entry) {
    entry.editing = false;
    renderBody(entry);
    renderActions(entry);
    const edit = entry.actionsEl.querySelector(".message-edit");
    if (edit) edit.focus();
  }

  /** The entry's one copy button, kept across re-renders of its actions (a late frame re-renders
   * them) so that "Copied" stays on screen; it copies the message's text when it is clicked. */
  function copyButtonOf(entry) {
    if (!entry.copyEl) {
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "icon-button message-copy";
      copy.setAttribute("data-testid", "message-copy");
      copy.textContent = t("copy");
      copy.addEventListener("click", () => copyText(copy, messageOf(entry).text));
      entry.copyEl = copy;
    }
    return entry.copyEl;
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
    renderAllActions: () => shown.forEach(renderActions),
    removeFrom: (entry) => cutBranch(shown, entry).dropped.forEach(remove),
    restartAnnouncements: (entry) => {
      entry.announced = 0; // what was read out is retracted: the refusal is read instead
      entry.announcedText = "";
    },
    scrollToBottom,
  };
}
