/* Settings → My data (REST GET /api/account/…, DELETE /api/account: docs/protocol.md): download
 * everything kept for the person as one ZIP, or delete the account with everything in it.
 *
 * Deleting is confirmed in a dialog of its own, opened over the settings dialog: it says what goes,
 * and its button works only once the account's name is typed (the server checks the same name).
 * Guests have a generated name they never chose, so the dialog always shows the name to type. When
 * the account is gone the session has ended too: the chat page, loaded again, starts a new guest. */

import { api } from "./api.js";
import { t } from "./i18n.js";

function element(tag, className, testId) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (testId) el.setAttribute("data-testid", testId);
  return el;
}

/** The translated `key` with the account's name in <strong> where its {name} placeholder is. */
function sentenceNaming(key, name) {
  const strong = element("strong", "account-name");
  strong.textContent = name;
  const [before, after = ""] = t(key).split("{name}");
  return [before, strong, after];
}

function downloadSection(exportUrl) {
  const intro = element("p", "field-note");
  intro.textContent = t("my_data_export_intro");
  const download = element("a", "button button-quiet", "my-data-download");
  download.href = exportUrl;
  download.setAttribute("download", "");
  download.textContent = t("my_data_export");
  return [intro, download];
}

/** "To confirm, type your account name: guest-…" and the box it is typed in. */
function nameField(accountName) {
  const field = element("label", "field");
  const prompt = element("span");
  prompt.append(...sentenceNaming("account_delete_type", accountName));
  const input = element("input", "", "account-delete-name");
  Object.assign(input, { type: "text", autocomplete: "off", spellcheck: false });
  input.setAttribute("autocapitalize", "none");
  field.append(prompt, input);
  return { field, input };
}

/** The confirmation dialog and the parts of it that createMyDataPanel drives. */
function deletionDialog(accountName) {
  const dialog = element("dialog", "dialog", "account-delete-dialog");
  dialog.id = "account-delete-dialog";
  dialog.setAttribute("aria-labelledby", "account-delete-title");
  dialog.setAttribute("aria-describedby", "account-delete-what");
  const form = element("form", "dialog-body");
  const title = element("h2");
  title.id = "account-delete-title";
  title.textContent = t("account_delete_title");
  const what = element("p");
  what.id = "account-delete-what";
  what.textContent = t("account_delete_what");
  const { field, input } = nameField(accountName);
  const error = element("p", "account-delete-error", "account-delete-error");
  error.setAttribute("role", "alert");
  const cancel = element("button", "button button-quiet", "account-delete-cancel");
  Object.assign(cancel, { type: "button", textContent: t("account_delete_cancel") });
  cancel.addEventListener("click", () => dialog.close());
  const confirm = element("button", "button button-danger", "account-delete-confirm");
  Object.assign(confirm, { type: "submit", disabled: true, textContent: t("account_delete_confirm") });
  const actions = element("div", "dialog-actions");
  actions.append(cancel, confirm);
  form.append(title, what, field, error, actions);
  dialog.append(form);
  return { dialog, form, input, error, confirm };
}

/** section: the empty <section> of the settings dialog; it names the export address, the page to
 * go to once the account is gone, and the account's name (data-export-url, data-home-url,
 * data-account-name). */
export function createMyDataPanel({ section }) {
  const accountName = section.getAttribute("data-account-name");
  const heading = element("h3");
  heading.id = "my-data-title";
  heading.textContent = t("my_data_title");
  const open = element("button", "button button-danger", "account-delete-open");
  Object.assign(open, { type: "button", textContent: t("account_delete") });
  open.setAttribute("aria-haspopup", "dialog");
  const confirmation = deletionDialog(accountName);
  open.setAttribute("aria-controls", confirmation.dialog.id);
  section.append(heading, ...downloadSection(section.getAttribute("data-export-url")), open);
  document.body.append(confirmation.dialog);

  const typedName = () => confirmation.input.value.trim();

  function openConfirmation() {
    confirmation.input.value = "";
    confirmation.error.textContent = "";
    confirmation.confirm.disabled = true;
    confirmation.dialog.showModal();
    confirmation.input.focus();
  }

  function deleteAccount(event) {
    event.preventDefault();
    if (typedName() !== accountName) return;
    confirmation.confirm.disabled = true;
    confirmation.error.textContent = "";
    api("DELETE", "/api/account", { confirm: typedName() }).then(
      () => window.location.assign(section.getAttribute("data-home-url")),
      (error) => {
        confirmation.error.textContent = error.detail;
        confirmation.confirm.disabled = false;
        confirmation.input.focus();
      }
    );
  }

  open.addEventListener("click", openConfirmation);
  confirmation.input.addEventListener("input", () => {
    confirmation.confirm.disabled = typedName() !== accountName;
  });
  confirmation.form.addEventListener("submit", deleteAccount);
  confirmation.dialog.addEventListener("close", () => open.focus());
}
