/* The message box: Enter sends (Shift+Enter is a new line; the placeholder says so except on touch
 * screens), a character counter near the limit, and a height that follows the text. A picture's Edit
 * button puts it into editing that picture: a chip above the box shows which (× or Escape leaves),
 * and the text starts with `/imagine edit `. */

import { t } from "./i18n.js";
import { iconButton } from "./icons.js";
import { charCount } from "./text.js";

const COUNTER_FROM = 0.8; // show the character counter from this share of the limit on
const MAX_HEIGHT_PX = 240;
// A touch screen has no Enter and Shift keys to speak of: its placeholder leaves the hint out.
const TOUCH_ONLY = "(pointer: coarse) and (hover: none)";
const EDIT_COMMAND = "/imagine edit ";
const CHIP_TEXT_ID = "picture-edit-state";
// The server reads the command case-insensitively, with any spaces between its words (imagine/commands.py).
const STARTS_WITH_EDIT_COMMAND = /^\s*\/imagine\s+edit(\s|$)/i;

/** els: {form, composer, send, counter}; onSubmit() when the user sends; canSendEmpty() when a message
 * without text can be sent (a photo is ready). */
export function createComposer({ els, maxChars, onSubmit, canSendEmpty }) {
  let pictureEdit = null; // {messageId, url}: the picture the next message edits
  const description = els.composer.getAttribute("aria-describedby"); // the character counter
  const pictureChip = pictureEditChip(() => {
    stopPictureEdit();
    els.composer.focus();
  });
  els.composer.closest(".composer-box").before(pictureChip);

  function update() {
    const text = els.composer.value;
    const count = charCount(text);
    const tooLong = count > maxChars;
    els.send.disabled = (text.trim().length === 0 && !canSendEmpty()) || tooLong;
    if (count >= maxChars * COUNTER_FROM) {
      els.counter.hidden = false;
      els.counter.textContent = t(tooLong ? "characters_over" : "characters", {
        count,
        max: maxChars,
        over: count - maxChars,
      });
      els.counter.classList.toggle("over", tooLong);
    } else {
      els.counter.hidden = true;
      els.counter.textContent = "";
    }
    els.composer.style.height = "auto";
    els.composer.style.height = Math.min(els.composer.scrollHeight, MAX_HEIGHT_PX) + "px";
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSubmit();
  });
  els.composer.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && pictureEdit) {
      event.preventDefault(); // not also the page's Escape (stopping an answer)
      stopPictureEdit();
      return;
    }
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.isComposing || event.keyCode === 229) return; // an IME is composing text
    event.preventDefault();
    onSubmit();
  });
  els.composer.addEventListener("input", update);
  if (window.matchMedia(TOUCH_ONLY).matches) els.composer.placeholder = t("composer_placeholder_touch");

  /** The next message edits `picture` ({messageId, url}): the text gets the command, kept before what
   * was typed, and the caret goes after it. */
  function startPictureEdit(picture) {
    pictureEdit = picture;
    pictureChip.querySelector("img").src = picture.url;
    pictureChip.hidden = false;
    describeComposer(true);
    const typed = els.composer.value;
    if (!STARTS_WITH_EDIT_COMMAND.test(typed)) els.composer.value = EDIT_COMMAND + typed.trimStart();
    els.composer.focus();
    els.composer.setSelectionRange(els.composer.value.length, els.composer.value.length);
    update();
  }

  function stopPictureEdit() {
    pictureEdit = null;
    pictureChip.hidden = true;
    pictureChip.querySelector("img").removeAttribute("src");
    describeComposer(false);
  }

  /** Focus lands in the box when an edit starts: its description is how a screen reader hears of it. */
  function describeComposer(editing) {
    els.composer.setAttribute("aria-describedby", editing ? description + " " + CHIP_TEXT_ID : description);
  }

  /** The picture a message of `text` edits, or null: without the command it would be refused, so it
   * goes as a message of its own. */
  function pictureEditOf(text) {
    return pictureEdit && STARTS_WITH_EDIT_COMMAND.test(text) ? pictureEdit : null;
  }

  return { update, startPictureEdit, stopPictureEdit, pictureEditOf };
}

/** The chip above the message box while a picture is edited: its thumbnail, what is going on, and ×. */
function pictureEditChip(onClose) {
  const chip = document.createElement("div");
  chip.className = "media-chip picture-edit-chip";
  chip.setAttribute("data-testid", "picture-edit-chip");
  chip.hidden = true;
  const thumbnail = document.createElement("img");
  thumbnail.className = "media-thumbnail";
  thumbnail.alt = ""; // the words beside it say what it is
  const state = document.createElement("span");
  state.className = "media-chip-state";
  state.id = CHIP_TEXT_ID;
  state.textContent = t("picture_edit_chip");
  const close = iconButton("media-remove", "close", t("picture_edit_cancel"));
  close.setAttribute("data-testid", "picture-edit-cancel");
  close.addEventListener("click", onClose);
  chip.append(thumbnail, state, close);
  return chip;
}
