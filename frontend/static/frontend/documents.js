/* Files attached to the open conversation (REST /api/documents, docs/subsystems/knowledge.md): the
 * attach button and dropping files on the chat upload them, and a chip per file shows the upload,
 * the server reading it, then "ready" or the server's sentence for what went wrong. Answers cite
 * a ready file's passages by file and page.
 *
 * A file belongs to a conversation: attached to a new chat, it first gets one (ensureConversation). */

import { api, upload } from "./api.js";
import { t } from "./i18n.js";
import { iconButton } from "./icons.js";

const POLL_MS = 1000; // how often a file the server is reading is asked about
export const ACCEPTED_FILES = ".pdf,.docx,.pptx,.txt,.md,.markdown,.html,.htm";

/** A file's state in words: uploading (a state of this page only), reading, ready or refused. */
export function documentState(file) {
  if (file.status === "uploading") return t("file_uploading", { percent: file.progress });
  if (file.status === "pending") return t("file_reading", { percent: file.progress });
  if (file.status === "failed") return file.error_detail || t("file_failed");
  if (file.pages === 1) return t("file_ready_page");
  return file.pages ? t("file_ready_pages", { count: file.pages }) : t("file_ready");
}

/**
 * els: {main, attach, attachInput, fileChips}; ensureConversation(name) -> a promise of the open
 * conversation's id (created, named `name`, when the chat is new), or of null when files cannot be
 * attached now. Returns {show(conversationId)}: the chips of the conversation now open, and
 * {use(file, conversationId)}: see below.
 */
export function createAttachments({ els, showNotice, ensureConversation }) {
  let shownFor = null; // the conversation whose files are shown
  let chips = []; // documents as /api/documents gives them, or uploads not answered yet

  els.attach.setAttribute("aria-label", t("attach_files"));
  els.attach.title = t("attach_files");
  els.attachInput.accept = ACCEPTED_FILES;
  els.main.setAttribute("data-drop-label", t("drop_files"));

  function show(conversationId) {
    shownFor = conversationId;
    chips = [];
    render();
    if (conversationId === null) return;
    api("GET", "/api/documents?conversation_id=" + conversationId).then(
      (data) => {
        if (shownFor !== conversationId) return;
        chips = data.documents;
        render();
        chips.filter((chip) => chip.status === "pending").forEach(watch);
      },
      (error) => showNotice(error.detail)
    );
  }

  function render() {
    els.fileChips.replaceChildren(...chips.map(chipItem));
    els.fileChips.hidden = chips.length === 0;
  }

  function chipItem(chip) {
    const item = document.createElement("li");
    item.className = "file-chip";
    item.setAttribute("data-testid", "file-chip");
    item.setAttribute("data-status", chip.status);
    const name = document.createElement("span");
    name.className = "file-chip-name";
    name.textContent = chip.name;
    const state = document.createElement("span");
    state.className = "file-chip-state";
    state.setAttribute("data-testid", "file-chip-state");
    state.textContent = documentState(chip);
    item.append(name, state);
    if (chip.status !== "uploading") item.appendChild(removeButton(chip));
    return item;
  }

  function removeButton(chip) {
    const remove = iconButton("file-chip-remove", "close", t("file_delete_named", { name: chip.name }));
    remove.setAttribute("data-testid", "file-chip-remove");
    remove.addEventListener("click", () => {
      const forget = () => {
        chips = chips.filter((kept) => kept !== chip);
        render();
      };
      if (chip.id === undefined) return forget(); // refused at upload: nothing is stored
      api("DELETE", "/api/documents/" + chip.id).then(forget, (error) => showNotice(error.detail));
    });
    return remove;
  }

  async function attach(files) {
    if (!files.length) return;
    let conversationId;
    try {
      conversationId = await ensureConversation(files[0].name);
    } catch (error) {
      showNotice(error.detail);
      return;
    }
    if (conversationId === null) return;
    if (shownFor === null) shownFor = conversationId; // the new chat just became this conversation
    files.forEach((file) => send(file, conversationId));
  }

  function send(file, conversationId) {
    const chip = { name: file.name, status: "uploading", progress: 0 };
    chips = [...chips, chip];
    render();
    const form = new FormData();
    form.append("file", file);
    form.append("conversation_id", String(conversationId));
    upload("/api/documents", form, (fraction) => {
      chip.progress = Math.round(fraction * 100);
      render();
    }).then(
      (stored) => {
        Object.assign(chip, stored);
        render();
        if (chip.status === "pending") watch(chip);
      },
      (error) => {
        Object.assign(chip, { status: "failed", error_detail: error.detail });
        render();
      }
    );
  }

  /** The server reads a file on a worker: its progress is asked for until it is ready or failed. */
  function watch(chip) {
    window.setTimeout(() => {
      if (!chips.includes(chip)) return; // another conversation is open, or it was removed
      api("GET", "/api/documents/" + chip.id).then(
        (stored) => {
          Object.assign(chip, stored);
          render();
          if (chip.status === "pending") watch(chip);
        },
        (error) => showNotice(error.detail)
      );
    }, POLL_MS);
  }

  // --- choosing files: the button, or dropping them anywhere on the chat ------------------

  const carriesFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");

  els.attach.addEventListener("click", () => els.attachInput.click());
  els.attachInput.addEventListener("change", () => {
    attach(Array.from(els.attachInput.files));
    els.attachInput.value = ""; // the same file can be chosen again
  });
  els.main.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    els.main.classList.add("dropping");
  });
  els.main.addEventListener("dragleave", (event) => {
    if (!els.main.contains(event.relatedTarget)) els.main.classList.remove("dropping");
  });
  els.main.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    els.main.classList.remove("dropping");
    attach(Array.from(event.dataTransfer.files));
  });

  /** One of the person's ready files (Settings → My files) used in the open conversation: the server
   * copies it, already read, and its chip joins this chat's. Resolves to the conversation's copy. */
  function use(file, conversationId) {
    if (shownFor === null) shownFor = conversationId; // a new chat that has become this conversation
    return api("POST", "/api/documents/" + file.id + "/attach", { conversation_id: conversationId }).then(
      (copy) => {
        if (shownFor === conversationId && !chips.some((chip) => chip.id === copy.id)) {
          chips = [...chips, copy];
          render();
        }
        return copy;
      }
    );
  }

  return { show, use };
}
