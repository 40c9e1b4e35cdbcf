/* The Share dialog of the chat page: a read-only link to the open conversation, made (or moved up
 * to the newest message) with POST /api/conversations/{id}/share and turned off with DELETE
 * (docs/protocol.md). The link shows the conversation as it was when shared, without the author's
 * name or other conversations. A module of its own: it needs only the address (#c=<id>). */

import { api } from "./api.js";
import { copyText } from "./answer_render.js";
import { t } from "./i18n.js";
import { idFromHash } from "./location.js";

function element(tag, className, fields) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  return Object.assign(made, fields || {});
}

function button(className, key, testId) {
  const made = element("button", "button " + className, { type: "button", textContent: t(key) });
  made.setAttribute("data-testid", testId);
  return made;
}

/** The dialog's elements, made once. */
function buildDialog() {
  const dialog = element("dialog", "dialog share-dialog", { id: "share-dialog" });
  dialog.setAttribute("data-testid", "share-dialog");
  dialog.setAttribute("aria-labelledby", "share-title");
  const body = element("div", "dialog-body");
  const title = element("h2", "", { id: "share-title", textContent: t("share_title") });
  const note = element("p", "field-note", { textContent: t("share_note") });
  const row = element("div", "share-link-row");
  const label = element("label", "visually-hidden", { htmlFor: "share-link", textContent: t("share_link_label") });
  const link = element("input", "share-link", { id: "share-link", type: "url", readOnly: true });
  link.setAttribute("data-testid", "share-link");
  const copy = button("button-primary", "copy", "share-copy");
  row.append(label, link, copy);
  const status = element("p", "field-note share-status", { id: "share-status" });
  status.setAttribute("role", "status");
  status.setAttribute("data-testid", "share-status");
  const actions = element("div", "dialog-actions");
  const revoke = button("button-danger", "share_revoke", "share-revoke");
  const create = button("button-primary", "share_create", "share-create");
  const close = button("button-quiet", "share_close", "share-close");
  actions.append(revoke, create, close);
  body.append(title, note, row, status, actions);
  dialog.appendChild(body);
  document.body.appendChild(dialog);
  return { dialog, row, link, copy, status, revoke, create, close };
}

/** Wires the Share button (#share-open) of the chat page to its dialog. */
export function createShareDialog(openButton) {
  const els = buildDialog();
  let conversationId = null;

  /** shareUrl: the link's path, or null when the conversation is not shared. */
  function show(shareUrl) {
    const shared = shareUrl !== null;
    els.row.hidden = !shared;
    els.revoke.hidden = !shared;
    els.link.value = shared ? new URL(shareUrl, window.location.origin).href : "";
    els.create.textContent = t(shared ? "share_update" : "share_create");
    els.create.hidden = conversationId === null;
  }

  function busy(on) {
    [els.create, els.revoke, els.copy].forEach((control) => {
      control.disabled = on;
    });
  }

  function failed(error) {
    busy(false);
    els.status.textContent = error.code === "nothing_to_regenerate" ? t("share_nothing") : error.detail;
  }

  function open() {
    conversationId = idFromHash();
    els.status.textContent = conversationId === null ? t("share_nothing") : "";
    show(null);
    els.dialog.showModal();
    if (conversationId === null) return els.close.focus();
    busy(true);
    api("GET", "/api/conversations").then((data) => {
      busy(false);
      const conversation = ((data && data.conversations) || []).find((item) => item.id === conversationId);
      show(conversation ? conversation.share_url : null);
      (conversation && conversation.share_url ? els.copy : els.create).focus();
    }, failed);
  }

  function share() {
    busy(true);
    api("POST", "/api/conversations/" + conversationId + "/share").then((conversation) => {
      busy(false);
      show(conversation.share_url);
      els.status.textContent = t("share_created");
      els.link.select();
      els.copy.focus();
    }, failed);
  }

  function revoke() {
    busy(true);
    api("DELETE", "/api/conversations/" + conversationId + "/share").then(() => {
      busy(false);
      show(null);
      els.status.textContent = t("share_revoked");
      els.create.focus();
    }, failed);
  }

  openButton.addEventListener("click", open);
  els.create.addEventListener("click", share);
  els.revoke.addEventListener("click", revoke);
  els.copy.addEventListener("click", () => copyText(els.copy, els.link.value));
  els.link.addEventListener("focus", () => els.link.select());
  els.close.addEventListener("click", () => els.dialog.close());
}

createShareDialog(document.getElementById("share-open"));
