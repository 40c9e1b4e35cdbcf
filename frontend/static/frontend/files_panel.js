/* Settings → My files (REST /api/documents): every file the person attached, in any conversation,
 * with its state; deleting one removes it from its conversation too (answers stop citing it). While
 * a conversation is open, a ready file of another one is offered for it ("Use in this chat"). */

import { api } from "./api.js";
import { documentState } from "./documents.js";
import { language, t } from "./i18n.js";
import { iconButton } from "./icons.js";

/** section: the empty <section> of the settings dialog that this panel fills; chat: {current(): the
 * open conversation's id, null for a new chat; use(file): documents.js's, a promise of the chat's copy}. */
export function createFilesPanel({ section, chat }) {
  const heading = document.createElement("h3");
  heading.id = "files-title";
  heading.tabIndex = -1;
  heading.textContent = t("files_title");
  const list = document.createElement("ul");
  list.className = "files-list";
  list.setAttribute("data-testid", "files-list");
  list.setAttribute("aria-labelledby", heading.id);
  const status = document.createElement("p");
  status.className = "field-note";
  status.setAttribute("data-testid", "files-status");
  status.setAttribute("role", "status");
  section.append(heading, list, status);

  function load() {
    status.textContent = "";
    return api("GET", "/api/documents").then(
      (data) => render(data.documents),
      (error) => {
        status.textContent = error.detail;
      }
    );
  }

  function render(documents) {
    list.replaceChildren(...documents.map(fileRow));
    if (!documents.length) status.textContent = t("files_empty");
  }

  function fileRow(file) {
    const row = document.createElement("li");
    row.className = "files-item";
    row.setAttribute("data-testid", "files-item");
    const name = document.createElement("p");
    name.className = "files-name";
    name.textContent = file.name;
    const detail = document.createElement("p");
    detail.className = "files-detail";
    const added = new Date(file.created_at).toLocaleDateString(language(), { dateStyle: "medium" });
    detail.textContent = documentState(file) + " · " + added;
    const openId = chat.current();
    if (openId !== null && file.status === "ready") {
      detail.append(" · ", file.conversation_id === openId ? t("file_in_this_chat") : useButton(file));
    }
    const remove = iconButton("files-delete", "delete", t("file_delete_named", { name: file.name }));
    remove.setAttribute("data-testid", "files-delete");
    remove.addEventListener("click", () => deleteFile(file, row));
    row.append(name, detail, remove);
    return row;
  }

  function useButton(file) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.setAttribute("data-testid", "files-use");
    button.textContent = t("file_use_in_chat");
    button.setAttribute("aria-label", t("file_use_in_chat_named", { name: file.name }));
    button.addEventListener("click", () => {
      button.disabled = true;
      chat.use(file).then(
        () =>
          load().then(() => {
            heading.focus(); // the list was drawn again without this button
            if (!status.textContent) status.textContent = t("file_used", { name: file.name });
          }),
        (error) => {
          button.disabled = false;
          status.textContent = error.detail;
        }
      );
    });
    return button;
  }

  function deleteFile(file, row) {
    api("DELETE", "/api/documents/" + file.id).then(
      () => {
        row.remove();
        heading.focus(); // the row and its button are gone
        status.textContent = t("file_deleted", { name: file.name });
      },
      (error) => {
        status.textContent = error.detail;
      }
    );
  }

  return { load };
}
