/* The report dialog: one finished answer goes to the moderation queue with an optional reason. */

import { api } from "./api.js";
import { t } from "./i18n.js";

/** els: {reportDialog, reportReason}; returns open(messageId, onReported). */
export function createReportDialog({ els, showNotice }) {
  let reporting = null; // {messageId, onReported} while the dialog is open

  function open(messageId, onReported) {
    reporting = { messageId, onReported };
    els.reportReason.value = "";
    els.reportDialog.returnValue = ""; // Esc keeps the last value: an old "send" must not count
    els.reportDialog.showModal();
    els.reportReason.focus();
  }

  function send() {
    const target = reporting;
    reporting = null;
    if (!target || els.reportDialog.returnValue !== "send") return;
    const reason = els.reportReason.value.trim();
    api("POST", "/api/messages/" + target.messageId + "/report", reason ? { reason } : {}).then(
      () => {
        target.onReported();
        showNotice(t("report_thanks"), "info");
      },
      (error) => showNotice(error.detail)
    );
  }

  els.reportDialog.addEventListener("close", send);
  return open;
}
