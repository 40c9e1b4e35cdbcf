/* The message box: Enter sends (Shift+Enter is a new line; the placeholder says so except on touch
 * screens), a character counter near the limit, and a height that follows the text. */

import { t } from "./i18n.js";
import { charCount } from "./text.js";

const COUNTER_FROM = 0.8; // show the character counter from this share of the limit on
const MAX_HEIGHT_PX = 240;
// A touch screen has no Enter and Shift keys to speak of: its placeholder leaves the hint out.
const TOUCH_ONLY = "(pointer: coarse) and (hover: none)";

/** els: {form, composer, send, counter}; onSubmit() when the user sends; canSendEmpty() when a message
 * without text can be sent (a photo is ready). */
export function createComposer({ els, maxChars, onSubmit, canSendEmpty }) {
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
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.isComposing || event.keyCode === 229) return; // an IME is composing text
    event.preventDefault();
    onSubmit();
  });
  els.composer.addEventListener("input", update);
  if (window.matchMedia(TOUCH_ONLY).matches) els.composer.placeholder = t("composer_placeholder_touch");

  return { update };
}
