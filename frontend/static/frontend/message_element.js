/* The element of one message in a list, the same in the chat's thread and on the share page, and the
 * form a user message becomes while it is edited. */

import { t } from "./i18n.js";
import { charCount } from "./text.js";
import { canSaveEdit } from "./versions.js";

/** An <li> for a message of `role`, saying who wrote it to screen readers, around an empty bubble
 * and its body: {item, bubble, body}. */
export function messageElement(role) {
  const item = document.createElement("li");
  item.className = "message message-" + role;
  item.setAttribute("data-testid", "message");
  item.setAttribute("data-role", role);
  const who = document.createElement("span");
  who.className = "visually-hidden message-who";
  who.textContent = t(role === "user" ? "you_said" : "assistant_said");
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const body = document.createElement("div");
  body.className = role === "assistant" ? "content markdown" : "content";
  bubble.appendChild(body);
  item.append(who, bubble);
  return { item, bubble, body };
}

/** The form that replaces a user message's text while it is edited: a textarea holding `text`,
 * Save & send and Cancel. Enter saves and Shift+Enter breaks the line, as in the composer; Escape
 * cancels. onSave(text) gets the edited text; nothing is sent when it is empty, too long or unchanged. */
export function editForm({ text, maxChars, onSave, onCancel }) {
  const form = document.createElement("form");
  form.className = "message-edit-form";
  form.setAttribute("data-testid", "message-edit-form");
  const field = document.createElement("textarea");
  field.className = "message-edit-text";
  field.value = text;
  field.rows = Math.min(8, text.split("\n").length + 1);
  field.setAttribute("aria-label", t("edit_message"));
  field.setAttribute("data-testid", "message-edit-text");
  const buttons = document.createElement("div");
  buttons.className = "message-edit-buttons";
  const cancel = formButton("button button-quiet", "edit_cancel", "message-edit-cancel");
  cancel.type = "button";
  const save = formButton("button button-primary", "edit_save", "message-edit-save");
  buttons.append(cancel, save);
  form.append(field, buttons);
  const changed = () => canSaveEdit(text, field.value, maxChars, charCount);
  field.addEventListener("input", () => {
    save.disabled = !changed();
  });
  save.disabled = true;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (changed()) onSave(field.value);
  });
  cancel.addEventListener("click", onCancel);
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      onCancel();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  return form;
}

function formButton(className, labelKey, testId) {
  const button = document.createElement("button");
  button.type = "submit";
  button.className = className;
  button.textContent = t(labelKey);
  button.setAttribute("data-testid", testId);
  return button;
}
