/* Notices above the thread (failures, confirmations) and the sentences they say for refusals. */

import { inSeconds, t } from "./i18n.js";

const MAX_NOTICES = 4;
// Error codes said in our own words (the keys of the script catalogue) rather than the server's.
export const FRIENDLY_ERRORS = [
  "model_unavailable",
  "service_unavailable",
  "safety_unavailable",
  "context_too_long",
  "answer_in_progress",
];

/** The sentence for a refused frame (an `error` frame): our own words where we have them. */
export function friendlyError(frame) {
  if ((frame.code === "rate_limited" || frame.code === "quota_exceeded") && frame.retry_after) {
    return t(frame.code, { when: inSeconds(frame.retry_after) });
  }
  if (FRIENDLY_ERRORS.includes(frame.code)) return t(frame.code);
  return frame.detail || t("request_refused");
}

/** showNotice(text, kind) for the #notices box; closing one puts the keyboard back in `composer`. */
export function createNotices(box, composer) {
  return function showNotice(text, kind) {
    box.querySelectorAll("[data-testid=notice]").forEach((existing) => {
      if (existing.getAttribute("data-text") === text) existing.remove();
    });
    while (box.children.length >= MAX_NOTICES) box.firstElementChild.remove();
    const notice = document.createElement("div");
    notice.className = "notice notice-" + (kind || "error");
    notice.setAttribute("data-testid", "notice");
    notice.setAttribute("data-text", text);
    notice.setAttribute("role", kind === "info" ? "status" : "alert");
    const message = document.createElement("p");
    message.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon-button notice-close";
    close.setAttribute("aria-label", t("dismiss"));
    close.textContent = "×";
    close.addEventListener("click", () => {
      notice.remove();
      composer.focus();
    });
    notice.append(message, close);
    box.appendChild(notice);
    return notice;
  };
}
