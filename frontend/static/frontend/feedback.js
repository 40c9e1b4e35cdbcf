/* Thumbs up and down on finished answers, and the optional reason a thumbs down asks for
 * (docs/protocol.md: `PUT /api/messages/{id}/feedback`).
 *
 * The person's ratings are kept here by answer id, seeded from the stored conversation and changed
 * by the buttons once the server has stored them. Each answer's controls are built once and moved
 * into its action bar whenever the thread draws the bar again, so a redraw while a request is on its
 * way, or while someone writes a comment, loses neither.
 * Pressing the pressed thumb again takes the rating back. A thumbs down is stored at once; the reason
 * panel that opens under it only adds a reason and a comment, so closing it loses nothing. */

import { api } from "./api.js";
import { t } from "./i18n.js";
import { iconButton } from "./icons.js";

// The reasons the server accepts, with their catalogue keys (written out: the translation test looks for each).
const REASONS = [
  ["not_accurate", "feedback_not_accurate"],
  ["not_helpful", "feedback_not_helpful"],
  ["unsafe", "feedback_unsafe"],
  ["other", "feedback_other"],
];
const COMMENT_MAX_CHARS = 1000; // the server's limit

const given = new Map(); // answer id -> {rating, reason, comment, updated_at}, as stored
const views = new Map(); // answer id -> its controls: {answerId, group, up, down, status, form}

/** The ratings of a loaded conversation's answers (the REST messages' `feedback`), replacing what was known. */
export function seedFeedback(messages) {
  messages.forEach((message) => {
    if (message.role !== "assistant") return;
    if (message.feedback) given.set(message.id, message.feedback);
    else given.delete(message.id);
  });
}

/** The thumbs of the finished answer `answerId` and its reason panel, to append to its action bar. */
export function feedbackControls(answerId) {
  if (!views.has(answerId)) views.set(answerId, buildView(answerId));
  const view = views.get(answerId);
  showPressed(view);
  const parts = document.createDocumentFragment();
  parts.append(view.group, view.form);
  return parts;
}

function buildView(answerId) {
  const group = document.createElement("div");
  group.className = "feedback";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", t("feedback_label"));
  const view = {
    answerId,
    group,
    up: thumb("up", "thumbs-up", t("feedback_up")),
    down: thumb("down", "thumbs-down", t("feedback_down")),
    status: statusLine(),
    form: reasonPanel(answerId),
  };
  group.append(view.up, view.down, view.status);
  view.up.addEventListener("click", () => rate(view, "up"));
  view.down.addEventListener("click", () => rate(view, "down"));
  view.form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendReason(view);
  });
  view.form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel(view, true);
  });
  view.form.querySelector(".feedback-close").addEventListener("click", () => closePanel(view, true));
  return view;
}

function thumb(rating, iconName, label) {
  const button = iconButton("feedback-thumb", iconName, label);
  button.setAttribute("data-testid", "feedback-" + rating);
  return button;
}

/** Where a refusal or the thanks is said: a status, so screen readers hear it without moving focus. */
function statusLine() {
  const status = document.createElement("span");
  status.className = "feedback-status";
  status.setAttribute("role", "status");
  status.setAttribute("data-testid", "feedback-status");
  return status;
}

function reasonPanel(answerId) {
  const form = document.createElement("form");
  form.className = "feedback-form";
  form.hidden = true;
  form.setAttribute("data-testid", "feedback-form");
  const reasons = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = t("feedback_reason_title");
  reasons.appendChild(legend);
  REASONS.forEach(([value, key]) => {
    const label = document.createElement("label");
    label.className = "feedback-reason";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "feedback-reason-" + answerId;
    input.value = value;
    input.setAttribute("data-testid", "feedback-reason-" + value);
    label.append(input, " ", t(key));
    reasons.appendChild(label);
  });
  const commentLabel = document.createElement("label");
  commentLabel.className = "feedback-comment";
  commentLabel.textContent = t("feedback_comment");
  const comment = document.createElement("textarea");
  comment.rows = 2;
  comment.maxLength = COMMENT_MAX_CHARS;
  comment.setAttribute("data-testid", "feedback-comment");
  commentLabel.appendChild(comment);
  const buttons = document.createElement("div");
  buttons.className = "feedback-buttons";
  buttons.append(panelButton("submit", "button button-primary", "feedback_send", "feedback-send"));
  buttons.append(panelButton("button", "button button-quiet feedback-close", "feedback_close", "feedback-close"));
  form.append(reasons, commentLabel, buttons);
  return form;
}

function panelButton(type, className, key, testId) {
  const button = document.createElement("button");
  button.type = type;
  button.className = className;
  button.setAttribute("data-testid", testId);
  button.textContent = t(key);
  return button;
}

function ratingOf(answerId) {
  return given.has(answerId) ? given.get(answerId).rating : null;
}

function showPressed(view) {
  const rating = ratingOf(view.answerId);
  view.up.setAttribute("aria-pressed", String(rating === "up"));
  view.down.setAttribute("aria-pressed", String(rating === "down"));
}

/** Stores `body` (null: takes the rating back); resolves to whether the server stored it. */
function save(view, body) {
  view.status.textContent = "";
  const path = "/api/messages/" + view.answerId + "/feedback";
  const request = body ? api("PUT", path, body) : api("DELETE", path);
  return request.then(
    (stored) => {
      if (stored) given.set(view.answerId, stored);
      else given.delete(view.answerId);
      showPressed(view);
      return true;
    },
    (error) => {
      view.status.textContent = error.detail;
      return false;
    }
  );
}

function rate(view, rating) {
  closePanel(view, false);
  if (ratingOf(view.answerId) === rating) return save(view, null);
  return save(view, { rating }).then((saved) => {
    if (saved && rating === "down") openPanel(view);
  });
}

function openPanel(view) {
  view.form.reset();
  view.form.hidden = false;
  view.form.querySelector("input").focus();
}

function closePanel(view, refocus) {
  if (view.form.hidden) return;
  view.form.hidden = true;
  if (refocus) view.down.focus();
}

function sendReason(view) {
  const picked = view.form.querySelector("input:checked");
  const comment = view.form.querySelector("textarea").value.trim();
  const body = { rating: "down" };
  if (picked) body.reason = picked.value;
  if (comment) body.comment = comment;
  save(view, body).then((saved) => {
    if (!saved) return;
    closePanel(view, true);
    view.status.textContent = t("feedback_thanks");
  });
}
