/* Settings → My files (REST /api/documents): every file the person attached, in any conversation,
 * with its state; deleting one removes it from its conversation too (answers stop citing it). */

import { api } from "./api.js";
import { documentState } from "./documents.js";
import { language, t } from "./i18n.js";
import { iconButton } from "./icons.js";

/** section: the empty <section> of the settings dialog that this panel fills. */
export function createFilesPanel({ section }) {
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
    api("GET", "/api/documents").then(
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
    const remove = iconButton("files-delete", "delete", t("file_delete_named", { name: file.name }));
    remove.setAttribute("data-testid", "files-delete");
    remove.addEventListener("click", () => deleteFile(file, row));
    row.append(name, detail, remove);
    return row;
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
