/* The web chat page (entry module): one WebSocket for every answer, the answers' state
 * (answer_state.js, a pure reducer) and the views that show it. The wire contract is
 * docs/protocol.md. Classic scripts run first: theme.js (window.assistantTheme), Django's
 * catalogue (window.django), DOMPurify and highlight.js.
 *
 * Every frame from the server and every request of the user goes through dispatch(): the reducer
 * gives the next state and its effects, and perform() carries each effect out (sends a frame, arms
 * a timer, redraws a message, shows a notice).
 */

import { api } from "./api.js";
import { copyCodeOnClick, renderAnswer } from "./answer_render.js";
import { answerById, initialState, isFinal, reduce } from "./answer_state.js";
import { createMediaComposer, shownText } from "./attachments.js";
import { createComposer } from "./composer.js";
import { createConversationList, MAX_TITLE_CHARS } from "./conversations.js";
import { createAttachments } from "./documents.js";
import { seedFeedback } from "./feedback.js";
import { t } from "./i18n.js";
import { idFromHash, setLocation } from "./location.js";
import { createNotices, friendlyError } from "./notices.js";
import { createReportDialog } from "./report.js";
import { createSettings } from "./settings.js";
import { listenForShortcuts } from "./shortcuts.js";
import { createSidebar } from "./sidebar.js";
import { createSocket, socketUrl } from "./socket.js";
import { answerFinished, createVoiceReplies } from "./speaker.js";
import { showSuggestions } from "./suggestions.js";
import { createTemporaryChat } from "./temporary_chat.js";
import { charCount } from "./text.js";
import { createThread } from "./thread.js";
import { canSaveEdit, selectVersionFrame, versionsById } from "./versions.js";

const GAP_RESUME_DELAY_MS = 1000; // a missing token frame may still come: wait this long, then resume
const QUEUE_NOTE_DELAY_MS = 1000; // a short wait for the model goes unmentioned: no note flashes by
const REGENERATE_ACK_TIMEOUT_MS = 15000;
const CONNECTION_LABELS = {
  connecting: "connecting",
  open: "connected",
  reconnecting: "reconnecting",
  closed: "signed_out",
};

function byId(id) {
  return document.getElementById(id);
}

const els = {
  app: byId("app"),
  main: byId("main"),
  attach: byId("attach"),
  attachInput: byId("attach-input"),
  fileChips: byId("file-chips"),
  photoAttach: byId("photo-attach"),
  photoInput: byId("photo-input"),
  record: byId("record"),
  mediaPreview: byId("media-preview"),
  voiceReplies: byId("voice-replies"),
  voiceRepliesLabel: byId("voice-replies-label"),
  sidebarToggle: byId("sidebar-toggle"),
  backdrop: byId("sidebar-backdrop"),
  newChat: byId("new-chat"),
  newChatTop: byId("new-chat-top"),
  list: byId("conversation-list"),
  listEmpty: byId("conversation-empty"),
  title: byId("conversation-title"),
  connection: byId("connection"),
  notices: byId("notices"),
  thread: byId("thread"),
  welcome: byId("welcome"),
  suggestions: byId("suggestions"),
  messages: byId("messages"),
  regenerateBar: byId("regenerate-bar"),
  regenerate: byId("regenerate"),
  form: byId("composer-form"),
  composer: byId("composer"),
  send: byId("send"),
  stop: byId("stop"),
  counter: byId("composer-counter"),
  search: byId("conversation-search"),
  noMatch: byId("conversation-no-match"),
  announcer: byId("announcer"),
  themeToggle: byId("theme-toggle"),
  settingsOpen: byId("settings-open"),
  settingsDialog: byId("settings-dialog"),
  languageSelect: byId("language-select"),
  themeSelect: byId("theme-select"),
  searchModeSelect: byId("search-mode-select"),
  settingsStatus: byId("settings-status"),
  memorySection: byId("memory-settings"),
  filesSection: byId("files-settings"),
  myDataSection: byId("my-data-settings"),
  temporaryToggle: byId("temporary-toggle"),
  temporaryBanner: byId("temporary-banner"),
  reportDialog: byId("report-dialog"),
  reportReason: byId("report-reason"),
};

const maxChars = parseInt(document.body.getAttribute("data-max-message-chars"), 10) || 4000;

let state = initialState();
let currentId = null; // the open conversation; null for a new chat
let loadToken = 0; // a conversation's messages arriving after another was opened are dropped
let regenerateTimer = 0;
const sentMessages = new Map(); // client_id -> the user message's entry, until the ack
const sentPictureEdits = new Map(); // client_id -> {messageId, url}: the picture a message edits, offered again if it fails
const gapTimers = new Map(); // answer key -> timer
let versionMap = new Map(); // message id -> its versions' ids, as the open conversation was last loaded

const showNotice = createNotices(els.notices, els.composer);
// `attachments` is made below; the files panel asks it only once the page runs.
const chatFiles = { current: () => currentId, use: (file) => attachments.use(file, currentId) };
const settings = createSettings({ els, showNotice, chat: chatFiles });
const thread = createThread({
  els,
  answerFor: (key) => state.answers.get(key),
  versions: {
    of: (id) => versionMap.get(id),
    select: selectVersion,
    edit: editMessage,
    maxChars,
  },
  onReport: report,
  onOpenMemory: (itemId) => settings.openMemory(itemId),
  onConsentAnswered: (entry, token, item) => dispatch({ type: "consent_answered", key: entry.key, token, item }),
  onEditPicture: editPicture,
});
const temporaryChat = createTemporaryChat({
  els,
  onToggle: () => {
    updateControls();
    els.composer.focus();
  },
});
const conversations = createConversationList({
  els,
  showNotice,
  currentId: () => currentId,
  isTemporary: (id) => temporaryChat.isTemporary(id),
  onOpen: (id) => openConversation(id, "push"),
  onDeleting: (conversation) => {
    if (currentId === conversation.id) newChat("replace");
  },
  onDeleted: (conversation) => dispatch({ type: "forget_conversation", conversationId: conversation.id }),
});
const attachments = createAttachments({ els, showNotice, ensureConversation });
const composer = createComposer({ els, maxChars, onSubmit: sendMessage, canSendEmpty: () => media.ready() !== null });
const media = createMediaComposer({
  els,
  showNotice,
  onChange: () => composer.update(),
  // A message carries a photo or edits a picture, never both (docs/protocol.md): the newer wish wins.
  onPhotoAdded: () => composer.stopPictureEdit(),
  onVoice: sendMessage,
});
createVoiceReplies({ els, showNotice });
const sidebar = createSidebar({ els });
const openReport = createReportDialog({ els, showNotice });
const socket = createSocket({
  url: socketUrl(window.location, "/ws/chat"),
  onOpen: () => {
    dispatch({ type: "connected" });
    conversations.refresh();
  },
  onFrame: dispatch,
  onClose: (sessionEnded) => dispatch({ type: sessionEnded ? "session_ended" : "disconnected" }),
  onStatus: (status) => {
    els.connection.setAttribute("data-state", status);
    els.connection.textContent = t(CONNECTION_LABELS[status]);
  },
});

// --- state and effects -------------------------------------------------------------------

function dispatch(event) {
  state = reduce(state, event);
  state.effects.forEach(perform);
}

/** What each effect of the reducer means on this page; `entry` is the answer's entry, if drawn. */
const EFFECTS = {
  send: (effect) => socket.send(effect.frame),
  watch_gap: (effect) => watchGap(effect.key),
  cancel_gap: (effect) => cancelGap(effect.key),
  watch_queue: (effect) => {
    window.setTimeout(() => dispatch({ type: "queue_timeout", key: effect.key }), QUEUE_NOTE_DELAY_MS);
  },
  queued: (effect, entry) => entry && thread.renderNow(entry),
  streamed: (effect, entry) => entry && thread.schedule(entry),
  searched: (effect, entry) => {
    if (!entry) return;
    if (effect.sourcesChanged) thread.schedule(entry); // citations already shown become links
    thread.renderExtras(entry);
  },
  retracted: (effect, entry) => {
    if (!entry) return;
    thread.restartAnnouncements(entry);
    thread.renderNow(entry);
  },
  finished,
  acked,
  message_failed: messageFailed,
  regenerate_failed: regenerateFailed,
  notice: (effect) => showNotice(friendlyError(effect.error)),
  replaced: (effect) => thread.forget(effect.key),
  forgotten: (effect) => thread.forget(effect.key),
  version_selected: (effect) => {
    if (effect.conversationId === currentId) openConversation(currentId, "none"); // its branch, as stored
  },
  memory_noted: (effect, entry) => {
    if (entry) thread.renderExtras(entry);
    settings.memoryChanged();
  },
};

function perform(effect) {
  EFFECTS[effect.type](effect, effect.key ? thread.entryFor(effect.key) : null);
}

function watchGap(key) {
  const timer = window.setTimeout(() => {
    gapTimers.delete(key);
    dispatch({ type: "gap_timeout", key });
  }, GAP_RESUME_DELAY_MS);
  gapTimers.set(key, timer);
}

function cancelGap(key) {
  window.clearTimeout(gapTimers.get(key));
  gapTimers.delete(key);
}

function finished(effect, entry) {
  if (entry) thread.renderNow(entry);
  if (effect.key) updateControls();
  if (!effect.wasFinal) conversations.refreshTwice(); // a new conversation's title comes after its answer
  if (entry && !effect.wasFinal) answerFinished(thread.messageOf(entry)); // read aloud when voice replies are on
  if (!effect.wasFinal && effect.key) refreshVersions(); // a regenerated answer or an edit is a new version
}

function acked(effect, entry) {
  if (effect.clientId !== null) {
    const userEntry = sentMessages.get(effect.clientId);
    sentMessages.delete(effect.clientId);
    sentPictureEdits.delete(effect.clientId);
    Object.assign(userEntry.user, { id: effect.userMessageId, status: "complete" });
    thread.renderNow(userEntry); // a photo it carries can be edited now that it is stored
    if (effect.temporary) temporaryChat.adopt(effect.conversationId);
    if (effect.startedConversation && currentId === null && thread.shows(userEntry)) {
      currentId = effect.conversationId; // the new conversation is now the open one
      if (!effect.temporary) setLocation(currentId, "replace"); // a reload could not open it again
      loadToken++;
    }
    conversations.refresh();
  } else {
    window.clearTimeout(regenerateTimer);
    dropEntry(effect.replacedKey); // kept on the server: an earlier version, one switch away
  }
  if (entry) thread.updateAttributes(entry);
  conversations.updateHeader();
  updateControls();
}

function messageFailed(effect) {
  const userEntry = sentMessages.get(effect.clientId);
  if (userEntry.user.attachment && userEntry.user.attachment.kind === "photo") media.restore(userEntry.user.attachment);
  thread.remove(userEntry);
  sentMessages.delete(effect.clientId);
  // A refused edit changed nothing stored: the branch it hid comes back.
  if (userEntry.user.editOf && currentId !== null) openConversation(currentId, "none");
  dropEntry(effect.key);
  // The text is not lost: it goes back to the composer unless something new was typed. The notice
  // stays until closed: the message was not sent, and only the user can send it again.
  const picture = sentPictureEdits.get(effect.clientId);
  sentPictureEdits.delete(effect.clientId);
  if (!els.composer.value.trim()) {
    els.composer.value = effect.text;
    // Sending it again edits the same picture, unless the picture is what was refused (it is gone).
    if (picture && !(effect.error && effect.error.code === "not_found")) composer.startPictureEdit(picture);
  }
  showNotice(effect.error ? friendlyError(effect.error) : t("session_ended"), "error", { persistent: true });
  updateControls();
}

function regenerateFailed(effect) {
  window.clearTimeout(regenerateTimer);
  dropEntry(effect.key);
  const replaced = thread.entryFor(effect.replacedKey);
  if (replaced && replaced.el) replaced.el.classList.remove("superseding");
  if (effect.cause === "refused") showNotice(friendlyError(effect.error));
  if (effect.cause === "timeout") showNotice(t("server_no_answer"));
  updateControls();
  // After a reconnect nobody knows whether it reached the server: the stored conversation says.
  if (effect.cause === "reconnected" && currentId === effect.conversationId) openConversation(currentId, "none");
}

function dropEntry(key) {
  const entry = thread.entryFor(key);
  if (entry) thread.remove(entry);
  thread.forget(key);
}

// --- opening conversations -----------------------------------------------------------------

function syncFromLocation() {
  const id = idFromHash();
  if (id === currentId) return;
  if (id === null) newChat("none");
  else openConversation(id, "none");
}

function newChat(history) {
  loadToken++;
  currentId = null;
  composer.stopPictureEdit(); // the picture belongs to the conversation left
  temporaryChat.disarm();
  attachments.show(null);
  setLocation(null, history);
  thread.clear();
  // A first message of a new conversation still waiting for its ack stays visible here.
  showUnacknowledged(null);
  conversations.updateHeader();
  updateControls();
  sidebar.closeOnSmallScreens();
}

function openConversation(id, history) {
  const token = ++loadToken;
  currentId = id;
  composer.stopPictureEdit(); // the picture may not be in the branch or conversation now shown
  setLocation(id, history);
  thread.clear();
  attachments.show(id);
  els.thread.classList.add("loading");
  conversations.updateHeader();
  updateControls();
  sidebar.closeOnSmallScreens();
  api("GET", "/api/conversations/" + id + "/messages").then(
    (data) => {
      if (token !== loadToken) return;
      els.thread.classList.remove("loading");
      showMessages(id, (data && data.messages) || []);
    },
    (error) => {
      if (token !== loadToken) return;
      els.thread.classList.remove("loading");
      if (error.status !== 404) return showNotice(error.detail);
      showNotice(t("conversation_gone"));
      newChat("replace");
      conversations.refresh();
    }
  );
}

function showMessages(conversationId, messages) {
  thread.clear();
  versionMap = versionsById(messages);
  dispatch({ type: "loaded", conversationId, messages });
  seedFeedback(messages);
  messages.forEach((message) => {
    if (message.role === "assistant") {
      thread.append(thread.answerEntry(answerById(state, message.id).key));
    } else {
      const attachment = message.attachment || null; // a photo or voice message it was sent with
      const text = shownText(message.content || "", attachment);
      const editsPictureOf = message.edits_picture_of;
      thread.append(thread.userEntry({ id: message.id, status: message.status, text, attachment, editsPictureOf }));
    }
  });
  showUnacknowledged(conversationId);
  updateControls();
  thread.scrollToBottom();
}

function showUnacknowledged(conversationId) {
  state.pending.forEach((sent) => {
    const userEntry = sentMessages.get(sent.clientId);
    if (sent.conversationId !== conversationId || thread.shows(userEntry)) return;
    thread.append(userEntry);
    thread.append(thread.answerEntry(sent.clientId));
  });
}

// --- the user's requests -------------------------------------------------------------------

/** Files belong to a conversation: a new chat gets one first, named after the first file. A
 * temporary chat starts only with a message (docs/protocol.md), so its files come after that. */
function ensureConversation(name) {
  if (currentId !== null) return Promise.resolve(currentId);
  if (temporaryChat.armed()) {
    showNotice(t("attach_temporary_first"), "info");
    return Promise.resolve(null);
  }
  return api("POST", "/api/conversations", { title: name.slice(0, MAX_TITLE_CHARS) }).then((created) => {
    loadToken++;
    currentId = created.id;
    setLocation(currentId, "push");
    conversations.refresh();
    updateControls();
    return currentId;
  });
}

function newClientId() {
  if (typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure page
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The composer's text with its photo, if one is ready; or `voice`, a recorded voice message (read by
 * the server: its transcript is the message), sent at once and on its own. */
function sendMessage(voice = null) {
  const raw = voice ? "" : els.composer.value;
  const text = raw.trim();
  const attachment = voice || media.ready();
  if (thread.streamingEntry() && voice) showNotice(t("voice_wait_for_answer"), "error", { persistent: true });
  if ((!text && !attachment) || charCount(text) > maxChars || thread.streamingEntry()) return;
  const clientId = newClientId();
  const shown = voice ? voice.transcript : text;
  const picture = voice ? null : composer.pictureEditOf(raw);
  const editsPictureOf = picture ? picture.messageId : null;
  const userEntry = thread.userEntry({ id: null, status: "sending", text: shown, attachment, editsPictureOf });
  sentMessages.set(clientId, userEntry);
  if (picture) sentPictureEdits.set(clientId, picture);
  // Sent now if the socket is open, otherwise as soon as it reconnects.
  const temporary = currentId === null && temporaryChat.armed();
  const attachmentId = attachment ? attachment.id : null;
  const sent = { clientId, conversationId: currentId, text: raw, temporary, attachmentId, editPictureOf: editsPictureOf };
  dispatch({ type: "send_message", ...sent });
  thread.append(userEntry);
  thread.append(thread.answerEntry(clientId));
  if (!voice) {
    els.composer.value = "";
    media.clear();
    composer.stopPictureEdit();
  }
  updateControls();
  thread.scrollToBottom();
  els.composer.focus();
}

/** The composer edits the picture of message `picture.messageId` ({messageId, url}); a photo waiting
 * to be sent goes, as a message cannot carry both. */
function editPicture(picture) {
  media.clear();
  composer.startPictureEdit(picture);
}

/** Sends `raw` as a new version of the user message of `entry`: the thread ends at it from now on
 * (the branch after it stays stored, one switch away), and the new version is answered. */
function editMessage(entry, raw) {
  if (!canSaveEdit(entry.user.text, raw, maxChars, charCount)) return;
  if (thread.streamingEntry()) return showNotice(t("versions_wait"));
  const clientId = newClientId();
  const editOf = entry.user.id;
  const userEntry = thread.userEntry({ id: null, status: "sending", text: raw.trim(), editOf });
  sentMessages.set(clientId, userEntry);
  thread.removeFrom(entry);
  dispatch({ type: "send_message", clientId, conversationId: currentId, text: raw, editOf });
  thread.append(userEntry);
  thread.append(thread.answerEntry(clientId));
  updateControls();
  thread.scrollToBottom();
}

/** Shows another version of a message; the server stores the choice and the page reloads the branch. */
function selectVersion(messageId) {
  if (thread.streamingEntry()) return showNotice(t("versions_wait"));
  if (!socket.send(selectVersionFrame(messageId))) showNotice(t("not_connected"));
}

/** The versions of the open conversation's messages, once an answer that may be a new one ended. */
function refreshVersions() {
  const id = currentId;
  const token = loadToken;
  if (id === null) return;
  api("GET", "/api/conversations/" + id + "/messages").then(
    (data) => {
      if (token !== loadToken || !data) return;
      versionMap = versionsById(data.messages || []);
      thread.renderAllActions();
    },
    () => {} // the switcher appears with the next load: nothing the person asked for failed
  );
}

function stopAnswer() {
  const entry = thread.streamingEntry();
  if (!entry || thread.messageOf(entry).stopRequested) return;
  dispatch({ type: "stop", key: entry.key });
  updateControls();
}

function lastFinishedAnswer() {
  const last = thread.last();
  return last && last.role === "assistant" && isFinal(thread.messageOf(last).status) ? last : null;
}

function canRegenerate() {
  return currentId !== null && !state.regenerating && !thread.streamingEntry() && lastFinishedAnswer() !== null;
}

function regenerate() {
  if (!canRegenerate()) return;
  if (!socket.isOpen()) {
    showNotice(t("not_connected"));
    return;
  }
  const replaced = lastFinishedAnswer();
  const key = newClientId();
  replaced.el.classList.add("superseding");
  dispatch({ type: "regenerate", key, conversationId: currentId, replacedKey: replaced.key });
  thread.append(thread.answerEntry(key));
  regenerateTimer = window.setTimeout(() => dispatch({ type: "regenerate_timeout", key }), REGENERATE_ACK_TIMEOUT_MS);
  updateControls();
  els.composer.focus();
}

function report(entry) {
  openReport(thread.messageOf(entry).id, () => {
    entry.reported = true;
    thread.renderActions(entry);
  });
}

function updateControls() {
  const streaming = thread.streamingEntry();
  const stopping = !!streaming && thread.messageOf(streaming).stopRequested;
  els.send.hidden = !!streaming;
  els.stop.hidden = !streaming;
  els.stop.disabled = stopping;
  els.stop.textContent = t(stopping ? "stopping" : "stop");
  els.messages.setAttribute("aria-busy", streaming ? "true" : "false");
  showRegenerate(canRegenerate());
  els.welcome.hidden = thread.count() > 0 || currentId !== null;
  temporaryChat.render(currentId, thread.count());
  composer.update();
  // Focus was on a control that just disappeared: keep the keyboard in the composer.
  const focused = document.activeElement;
  if (focused === document.body || (focused && focused.hidden)) els.composer.focus();
}

/** Regenerate sits under the last answer: when it appears there, the thread keeps it in sight. */
function showRegenerate(shown) {
  const appearing = shown && els.regenerateBar.hidden;
  const stick = appearing && thread.nearBottom();
  els.regenerateBar.hidden = !shown;
  if (stick) thread.scrollToBottom();
}

// --- wiring --------------------------------------------------------------------------------

els.stop.addEventListener("click", stopAnswer);
els.regenerate.addEventListener("click", regenerate);
[els.newChat, els.newChatTop].forEach((button) =>
  button.addEventListener("click", () => {
    newChat("push");
    els.composer.focus();
  })
);
showSuggestions(els.suggestions, (text) => {
  els.composer.value = text;
  composer.update();
  els.composer.focus();
});
listenForShortcuts({
  els,
  sidebar,
  onNewChat: () => newChat("push"),
  canStop: () => thread.streamingEntry() !== null,
  onStop: stopAnswer,
});
document.addEventListener("click", copyCodeOnClick);
window.addEventListener("popstate", syncFromLocation);
window.addEventListener("hashchange", syncFromLocation);
window.addEventListener("online", socket.reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") socket.reconnectNow();
});

window.renderAnswer = renderAnswer; // for the browser tests, which render text with the page's renderer
socket.connect();
conversations.refresh();
const initialId = idFromHash();
if (initialId !== null) openConversation(initialId, "none");
else newChat("none");
els.composer.focus();
