/* Notices above the thread (failures, confirmations) and the sentences they say for refusals.
 *
 * A notice goes away on its own after a while, unless it asks the user to do something
 * (`persistent`); the countdown waits while the pointer or the keyboard is on it, so nobody loses
 * a notice they are reading. Every notice has a close button; one may carry an action (Undo). */

import { inSeconds, t } from "./i18n.js";
import { iconButton } from "./icons.js";

const MAX_NOTICES = 4;
const SHOWN_MS = { info: 6000, error: 10000 };
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

/** Removes `notice` after `ms`, counting only while neither the pointer nor the focus is on it. */
function dismissLater(notice, ms) {
  let timer = 0;
  const start = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => notice.remove(), ms);
  };
  const pause = () => window.clearTimeout(timer);
  notice.addEventListener("mouseenter", pause);
  notice.addEventListener("focusin", pause);
  notice.addEventListener("mouseleave", start);
  notice.addEventListener("focusout", (event) => {
    if (!notice.contains(event.relatedTarget)) start();
  });
  start();
}

/**
 * showNotice(text, kind, options) for the #notices box; kind is "error" (the default) or "info".
 * options: {persistent: stays until closed, action: {label, run}: a button that runs and closes,
 * shownMs: how long it stays}. Closing one puts the keyboard back in `composer`.
 */
export function createNotices(box, composer) {
  return function showNotice(text, kind, options) {
    const level = kind || "error";
    const settings = options || {};
    box.querySelectorAll("[data-testid=notice]").forEach((existing) => {
      if (existing.getAttribute("data-text") === text) existing.remove();
    });
    while (box.children.length >= MAX_NOTICES) box.firstElementChild.remove();
    const notice = document.createElement("div");
    notice.className = "notice notice-" + level;
    notice.setAttribute("data-testid", "notice");
    notice.setAttribute("data-text", text);
    notice.setAttribute("role", level === "info" ? "status" : "alert");
    const message = document.createElement("p");
    message.textContent = text;
    notice.appendChild(message);
    const closeNotice = () => {
      notice.remove();
      composer.focus();
    };
    if (settings.action) {
      const act = document.createElement("button");
      act.type = "button";
      act.className = "button button-quiet notice-action";
      act.setAttribute("data-testid", "notice-action");
      act.textContent = settings.action.label;
      act.addEventListener("click", () => {
        settings.action.run();
        closeNotice();
      });
      notice.appendChild(act);
    }
    const close = iconButton("notice-close", "close", t("dismiss"));
    close.setAttribute("data-testid", "notice-close");
    close.addEventListener("click", closeNotice);
    notice.appendChild(close);
    box.appendChild(notice);
    if (!settings.persistent) dismissLater(notice, settings.shownMs || SHOWN_MS[level]);
    return notice;
  };
}
