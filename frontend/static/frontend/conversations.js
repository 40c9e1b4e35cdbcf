/* The conversation list in the sidebar (REST), grouped by date: search, rename, delete with Undo,
 * and the header that names the open conversation.
 *
 * Deleting hides the row at once and says so with an Undo button; the server is asked only when
 * the Undo time is over (or the page is left), so Undo needs no restore on the server. */

import { api } from "./api.js";
import { groupByDate } from "./date_groups.js";
import { t } from "./i18n.js";
import { iconButton } from "./icons.js";
import { matchesEveryWord } from "./text.js";

const TITLE_REFRESH_DELAY_MS = 3000;
export const MAX_TITLE_CHARS = 200;
const UNDO_DELETE_MS = 6000;
const GROUP_TITLES = {
  today: "group_today",
  yesterday: "group_yesterday",
  previous_7_days: "group_previous_7_days",
  older: "group_older",
};

function conversationTitle(conversation) {
  return (conversation && conversation.title && conversation.title.trim()) || t("new_conversation");
}

/**
 * els: {list, listEmpty, noMatch, search, title, newChat}; currentId() -> the open conversation's
 * id or null; isTemporary(id): a temporary chat, never listed; onOpen(id) opens one;
 * onDeleting(conversation) when the user deletes one (the page leaves it); onDeleted(conversation)
 * after the server deleted it.
 */
export function createConversationList({
  els,
  showNotice,
  currentId,
  isTemporary,
  onOpen,
  onDeleting,
  onDeleted,
}) {
  let conversations = [];
  let renaming = false;
  const deleting = new Map(); // id -> timer: deleted by the user, still undoable

  function refresh() {
    return api("GET", "/api/conversations").then(
      (data) => {
        conversations = (data && data.conversations) || [];
        if (!renaming) render(); // a rename in progress draws the list when it ends
        updateHeader();
      },
      (error) => showNotice(error.detail)
    );
  }

  /** A new conversation gets its title a moment after its first answer. */
  function refreshTwice() {
    refresh();
    window.setTimeout(refresh, TITLE_REFRESH_DELAY_MS);
  }

  function rowButton(id) {
    return els.list.querySelector('[data-conversation-id="' + id + '"] .conversation-open');
  }

  function render() {
    // Keep the keyboard focus on the same row when the list is drawn again.
    const focused = document.activeElement;
    const focusedItem = focused && els.list.contains(focused) ? focused.closest("[data-conversation-id]") : null;
    const focusedId = focusedItem ? focusedItem.getAttribute("data-conversation-id") : null;
    const query = els.search.value;
    const listed = (conversation) => !deleting.has(conversation.id) && !isTemporary(conversation.id);
    const kept = conversations.filter(listed);
    const shown = kept.filter((conversation) => matchesEveryWord(conversationTitle(conversation), query));
    els.list.replaceChildren(...groupByDate(shown, new Date()).map(groupItem));
    els.listEmpty.hidden = kept.length > 0;
    els.noMatch.hidden = shown.length > 0 || kept.length === 0;
    const again = focusedId && rowButton(focusedId);
    if (again) again.focus();
  }

  /** A date group: its heading, then its conversations as a list of their own. */
  function groupItem({ group, items }) {
    const item = document.createElement("li");
    item.className = "conversation-group";
    item.setAttribute("data-testid", "conversation-group");
    item.setAttribute("data-group", group);
    const heading = document.createElement("h2");
    heading.className = "conversation-group-title";
    heading.id = "conversation-group-" + group;
    heading.textContent = t(GROUP_TITLES[group]);
    const list = document.createElement("ul");
    list.className = "conversation-group-items";
    list.setAttribute("aria-labelledby", heading.id);
    list.append(...items.map(conversationItem));
    item.append(heading, list);
    return item;
  }

  function conversationItem(conversation) {
    const title = conversationTitle(conversation);
    const item = document.createElement("li");
    item.className = "conversation";
    item.setAttribute("data-testid", "conversation-item");
    item.setAttribute("data-conversation-id", String(conversation.id));
    if (conversation.id === currentId()) item.setAttribute("aria-current", "page");

    const open = document.createElement("button");
    open.type = "button";
    open.className = "conversation-open";
    open.title = title;
    const label = document.createElement("span");
    label.className = "conversation-title";
    label.textContent = title;
    open.appendChild(label);
    open.addEventListener("click", () => onOpen(conversation.id));

    const actions = document.createElement("div");
    actions.className = "conversation-actions";
    const rename = iconButton("conversation-rename", "rename", t("rename", { title }));
    rename.addEventListener("click", (event) => {
      event.stopPropagation();
      startRename(item, conversation);
    });
    const remove = iconButton("conversation-delete", "delete", t("delete", { title }));
    remove.addEventListener("click", (event) => {
      event.stopPropagation();
      deleteConversation(conversation);
    });
    actions.append(rename, remove);

    item.append(open, actions);
    item.addEventListener("click", (event) => {
      // The whole row opens the conversation, not only its title button.
      if (event.target === item) onOpen(conversation.id);
    });
    return item;
  }

  function startRename(item, conversation) {
    if (renaming) return;
    renaming = true;
    const input = document.createElement("input");
    input.type = "text";
    input.className = "conversation-rename-input";
    input.maxLength = MAX_TITLE_CHARS;
    input.value = conversation.title || "";
    input.setAttribute("aria-label", t("new_title_for", { title: conversationTitle(conversation) }));
    item.replaceChild(input, item.querySelector(".conversation-open"));
    item.classList.add("renaming");
    input.focus();
    input.select();

    let finished = false;
    function finish(save) {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      const done = () => {
        renaming = false;
        render();
        updateHeader();
        const again = rowButton(conversation.id);
        if (again && document.activeElement === document.body) again.focus();
      };
      if (!save || title === (conversation.title || "")) return done();
      if (title.length < 1 || title.length > MAX_TITLE_CHARS) {
        showNotice(t("title_length"));
        return done();
      }
      input.disabled = true;
      api("PATCH", "/api/conversations/" + conversation.id, { title }).then(
        (updated) => {
          conversations = conversations.map((c) => (c.id === updated.id ? updated : c));
          done();
        },
        (error) => {
          showNotice(error.detail);
          done();
        }
      );
    }
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  function deleteConversation(conversation) {
    const undo = () => {
      window.clearTimeout(deleting.get(conversation.id));
      deleting.delete(conversation.id);
      render();
    };
    deleting.set(conversation.id, window.setTimeout(() => finishDeleting(conversation), UNDO_DELETE_MS));
    onDeleting(conversation);
    render();
    els.newChat.focus();
    showNotice(t("conversation_deleted", { title: conversationTitle(conversation) }), "info", {
      action: { label: t("undo"), run: undo },
      shownMs: UNDO_DELETE_MS,
    });
  }

  /** The Undo time is over: the server deletes it. `keepalive` lets the request outlive the page. */
  function finishDeleting(conversation, keepalive) {
    if (!deleting.has(conversation.id)) return;
    window.clearTimeout(deleting.get(conversation.id));
    deleting.delete(conversation.id);
    api("DELETE", "/api/conversations/" + conversation.id, undefined, { keepalive }).then(
      () => {
        conversations = conversations.filter((c) => c.id !== conversation.id);
        onDeleted(conversation);
        render();
      },
      (error) => {
        showNotice(error.detail);
        render();
      }
    );
  }

  /** Leaving the page ends the Undo time of every deletion still waiting. */
  function finishAllDeleting() {
    conversations.filter((c) => deleting.has(c.id)).forEach((c) => finishDeleting(c, true));
  }

  function listedTitle(id) {
    const conversation = conversations.find((c) => c.id === id);
    return conversation ? conversationTitle(conversation) : t("conversation");
  }

  /** The header and the tab name the open conversation; its row in the list is marked current. */
  function updateHeader() {
    const id = currentId();
    let title = t("new_chat");
    if (id !== null) title = isTemporary(id) ? t("temporary_chat") : listedTitle(id);
    els.title.textContent = title;
    document.title = id === null ? "Assistant" : title + " · Assistant";
    els.list.querySelectorAll("[data-conversation-id]").forEach((item) => {
      if (Number(item.getAttribute("data-conversation-id")) === id) item.setAttribute("aria-current", "page");
      else item.removeAttribute("aria-current");
    });
  }

  els.search.addEventListener("input", render);
  window.addEventListener("pagehide", finishAllDeleting);

  return { refresh, refreshTwice, render, updateHeader };
}
