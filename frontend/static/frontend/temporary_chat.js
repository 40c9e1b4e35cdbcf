/* Temporary chats (docs/protocol.md, "Memory, attached files and temporary chats"): a new chat can
 * start temporary; its turns neither read nor keep memory, and the server deletes it when this
 * page's socket closes. The page keeps it out of the conversation list and out of the address (a
 * reload could not open it again), and says plainly, for as long as it is open, that it is not kept. */

import { t } from "./i18n.js";

/** els: {app, temporaryToggle, temporaryBanner}; onToggle() after the user switches it. */
export function createTemporaryChat({ els, onToggle }) {
  let armed = false; // the next new conversation starts temporary
  const started = new Set(); // ids of the conversations this page started as temporary

  const label = document.createElement("span");
  label.textContent = t("temporary_chat");
  els.temporaryToggle.append(" ", label);
  els.temporaryToggle.title = t("temporary_chat_hint");
  els.temporaryBanner.textContent = t("temporary_banner");
  els.temporaryToggle.addEventListener("click", () => {
    armed = !armed;
    onToggle();
  });

  const isTemporary = (conversationId) => started.has(conversationId);

  return {
    /** Whether a first message sent now starts a temporary chat. */
    armed: () => armed,
    isTemporary,
    /** The server acknowledged the first message of a temporary chat: this is its id. */
    adopt: (conversationId) => started.add(conversationId),
    /** A new chat starts kept unless the user asks again. */
    disarm: () => {
      armed = false;
    },
    /** The toggle is offered on a new, empty chat; the banner shows whenever the chat is temporary. */
    render: (currentId, messageCount) => {
      const temporary = currentId === null ? armed : isTemporary(currentId);
      els.temporaryToggle.hidden = currentId !== null || messageCount > 0;
      els.temporaryToggle.setAttribute("aria-pressed", armed ? "true" : "false");
      els.temporaryBanner.hidden = !temporary;
      els.app.classList.toggle("temporary", temporary);
    },
  };
}
