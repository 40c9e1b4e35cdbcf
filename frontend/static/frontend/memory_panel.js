/* Settings → Memory (REST /api/memory, docs/subsystems/knowledge.md): the facts the assistant keeps
 * about the person, each with where it came from (a web chat named by its title, with a link that
 * opens it; a messaging app by its name); edit one in place, delete one, clear all, switch memory off,
 * and link a messaging app with a one-time code.
 *
 * The settings dialog is modal, so the rest of the page (its notices included) cannot be reached
 * while it is open: clearing is confirmed inside the section, with Undo. As with deleting a
 * conversation, the server is asked only when the Undo time is over, the dialog closes or the
 * page is left. */

import { api } from "./api.js";
import { language, t } from "./i18n.js";

const UNDO_CLEAR_MS = 6000;
const CHANNEL_NAMES = {
  web: "channel_web",
  api: "channel_api",
  whatsapp: "channel_whatsapp",
  messenger: "channel_messenger",
  instagram: "channel_instagram",
  telegram: "channel_telegram",
};

function element(tag, className, testId) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (testId) el.setAttribute("data-testid", testId);
  return el;
}

function textButton(className, testId, key, onClick) {
  const button = element("button", "button " + className, testId);
  button.type = "button";
  button.textContent = t(key);
  button.addEventListener("click", onClick);
  return button;
}

function formatTime(iso) {
  const options = { dateStyle: "medium", timeStyle: "short" };
  return new Date(iso).toLocaleString(language(), options);
}

/** "From “Trip to Porto”, 2 Dec 2026, 18:24" and a link that opens that chat, when it is one of this
 * account's web chats with a title (`titles`: id -> title); else "From WhatsApp, 2 Dec 2026, 18:24".
 * The settings dialog is closed by the link, so the chat it opens (#c=<id>) is in view. */
function sourceLine(source, titles, dialog) {
  const line = element("p", "memory-source", "memory-source");
  const time = formatTime(source.at);
  const title = source.channel === "web" ? titles.get(source.conversation_id) : undefined;
  if (!title) {
    line.textContent = t("memory_source", { channel: t(CHANNEL_NAMES[source.channel] || "channel_other"), time });
    return line;
  }
  const open = element("a", "memory-source-open", "memory-source-open");
  open.href = "#c=" + source.conversation_id;
  open.textContent = t("memory_source_open");
  open.addEventListener("click", () => dialog.close());
  line.append(t("memory_source_conversation", { title, time }), " ", open);
  return line;
}

/** section: the empty <section> of the settings dialog; dialog: that dialog; isGuest: no account. */
export function createMemoryPanel({ section, dialog, isGuest, signupUrl }) {
  let items = [];
  let titles = new Map(); // the account's conversations: id -> title, to name where a fact was said
  let revealing = null; // the item to show once the list is drawn (from "Memory updated")
  let clearing = 0; // the timer of a Clear all still undoable, else 0
  const heading = element("h3");
  heading.id = "memory-title";
  heading.tabIndex = -1;
  heading.textContent = t("memory_title");
  const intro = element("p", "field-note");
  intro.textContent = t("memory_intro");
  const switchLabel = element("label", "memory-switch");
  const enabled = element("input", "", "memory-enabled");
  enabled.type = "checkbox";
  enabled.setAttribute("role", "switch");
  const switchText = element("span");
  switchText.textContent = t("memory_enabled");
  switchLabel.append(enabled, switchText);
  const status = element("p", "field-note", "memory-status");
  status.setAttribute("role", "status");
  const list = element("ul", "memory-list", "memory-list");
  list.setAttribute("aria-labelledby", heading.id);
  const empty = element("p", "field-note", "memory-empty");
  empty.textContent = t("memory_empty");
  const clearAll = textButton("button-quiet", "memory-clear", "memory_clear", startClearing);
  const link = element("div", "memory-link");
  section.append(heading, intro, switchLabel, list, empty, clearAll, status, link);

  function load() {
    status.textContent = "";
    // Without the titles the sources still name their channel.
    const chats = api("GET", "/api/conversations").catch(() => ({ conversations: [] }));
    Promise.all([api("GET", "/api/memory"), chats]).then(
      ([data, known]) => {
        items = data.items;
        titles = new Map(known.conversations.map((conversation) => [conversation.id, conversation.title]));
        enabled.checked = data.enabled;
        render();
        showRevealed();
      },
      (error) => say(error.detail)
    );
  }

  /** The item "Memory updated" linked to, scrolled to and focused once it is drawn. */
  function showRevealed() {
    const row = revealing === null ? null : list.querySelector(`[data-memory-id="${revealing}"]`);
    revealing = null;
    if (!row) return;
    row.classList.add("memory-item-revealed");
    row.tabIndex = -1;
    row.scrollIntoView({ block: "center" });
    row.focus();
  }

  function say(text, action) {
    status.replaceChildren(text);
    if (action) status.append(" ", action);
  }

  function render() {
    const shown = clearing ? [] : items;
    list.replaceChildren(...shown.map(itemRow));
    empty.hidden = shown.length > 0;
    clearAll.hidden = shown.length === 0;
  }

  function itemRow(item) {
    const row = element("li", "memory-item", "memory-item");
    row.setAttribute("data-memory-id", String(item.id));
    const text = element("p", "memory-text", "memory-text");
    text.textContent = item.text;
    const source = sourceLine(item.source, titles, dialog);
    const actions = element("div", "memory-actions");
    const edit = textButton("button-quiet", "memory-edit", "memory_edit", () => startEditing(row, item));
    edit.setAttribute("aria-label", t("memory_edit_named", { text: item.text }));
    const remove = textButton("button-quiet", "memory-delete", "memory_delete", () => deleteItem(item));
    remove.setAttribute("aria-label", t("memory_delete_named", { text: item.text }));
    actions.append(edit, remove);
    row.append(text, source, actions);
    return row;
  }

  /** The fact becomes a text box: Enter or Save keeps the new words, Escape or Cancel the old ones. */
  function startEditing(row, item) {
    const input = element("textarea", "memory-input", "memory-input");
    input.rows = 2;
    input.value = item.text;
    input.setAttribute("aria-label", t("memory_edit_named", { text: item.text }));
    const save = textButton("button-primary", "memory-save", "memory_save", () => saveEdit(item, input));
    const cancel = textButton("button-quiet", "memory-cancel", "memory_cancel", render);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        saveEdit(item, input);
      } else if (event.key === "Escape") {
        event.preventDefault(); // the dialog stays open; only the edit ends
        render();
      }
    });
    const actions = element("div", "memory-actions");
    actions.append(save, cancel);
    row.replaceChildren(input, actions);
    input.focus();
  }

  function saveEdit(item, input) {
    const text = input.value.trim();
    if (text === item.text) return render();
    input.disabled = true;
    api("PATCH", "/api/memory/" + item.id, { text }).then(
      (updated) => {
        items = items.map((kept) => (kept.id === updated.id ? updated : kept));
        render();
        say(t("memory_saved"));
      },
      (error) => {
        input.disabled = false;
        input.focus();
        say(error.detail);
      }
    );
  }

  function deleteItem(item) {
    api("DELETE", "/api/memory/" + item.id).then(
      () => {
        items = items.filter((kept) => kept.id !== item.id);
        render();
        heading.focus(); // the row and its buttons are gone
        say(t("memory_deleted", { text: item.text }));
      },
      (error) => say(error.detail)
    );
  }

  function startClearing() {
    clearing = window.setTimeout(finishClearing, UNDO_CLEAR_MS);
    render();
    heading.focus();
    say(t("memory_cleared"), textButton("button-quiet", "memory-undo", "undo", undoClearing));
  }

  function undoClearing() {
    window.clearTimeout(clearing);
    clearing = 0;
    render();
    say("");
    heading.focus();
  }

  /** The Undo time is over: the server forgets everything. `keepalive` lets it outlive the page. */
  function finishClearing(keepalive) {
    if (!clearing) return;
    window.clearTimeout(clearing);
    clearing = 0;
    api("DELETE", "/api/memory", undefined, { keepalive }).then(
      () => {
        items = [];
        render();
        say(t("memory_cleared_done"));
      },
      (error) => {
        render();
        say(error.detail);
      }
    );
  }

  function switchMemory() {
    enabled.disabled = true;
    api("PATCH", "/api/memory/settings", { enabled: enabled.checked }).then(
      (settings) => {
        enabled.disabled = false;
        enabled.checked = settings.enabled;
        say(t(settings.enabled ? "memory_on" : "memory_off"));
      },
      (error) => {
        enabled.disabled = false;
        enabled.checked = !enabled.checked;
        say(error.detail);
      }
    );
  }

  // --- linking a messaging app -----------------------------------------------------------

  function renderLink() {
    const title = element("h4");
    title.textContent = t("memory_link_title");
    const note = element("p", "field-note", "memory-link-note");
    if (isGuest) {
      note.textContent = t("memory_link_guest") + " ";
      const signup = element("a", "", "memory-link-signup");
      signup.href = signupUrl;
      signup.textContent = t("memory_link_signup");
      note.appendChild(signup);
      link.replaceChildren(title, note);
      return;
    }
    note.textContent = t("memory_link_intro");
    const create = textButton("button-quiet", "memory-link-create", "memory_link_create", () => createCode(code));
    const code = element("p", "memory-link-code", "memory-link-code");
    code.setAttribute("role", "status");
    link.replaceChildren(title, note, create, code);
  }

  function createCode(out) {
    api("POST", "/api/memory/link").then(
      (issued) => {
        const until = new Date(issued.expires_at).toLocaleTimeString(language(), { timeStyle: "short" });
        out.textContent = t("memory_link_send", { command: "/link " + issued.code, until });
      },
      (error) => {
        out.textContent = error.detail;
      }
    );
  }

  enabled.addEventListener("change", switchMemory);
  dialog.addEventListener("close", () => finishClearing(false));
  window.addEventListener("pagehide", () => finishClearing(true));
  renderLink();

  return {
    load,
    /** Shows the section: the dialog scrolls to it and the keyboard starts there, or at the item
     * `itemId` once the list loaded (call after load()). */
    reveal: (itemId) => {
      heading.scrollIntoView({ block: "start" });
      heading.focus();
      revealing = itemId ?? null;
    },
    /** Memory changed elsewhere (a `memory_updated` frame): an open list is drawn again. */
    refreshIfOpen: () => {
      if (dialog.open && !clearing && !list.querySelector("textarea")) load(); // an edit in progress is kept
    },
  };
}
