/* Photos and voice messages in the composer (docs/protocol.md). A photo comes from the photo button, a
 * paste or a drop on the chat; it is uploaded in resumable chunks (resumable.js, /api/uploads) and read
 * by the server at once, and waits in a chip (thumbnail, progress, remove) until the message is sent
 * with it. The microphone button records a voice message (elapsed time, cancel); stopping uploads it
 * the same way, in a chip of its own (progress, remove), and sends it as a message of its own the
 * moment the server has read it. The browser keeps both until then (pending_media.js): after a reload
 * the chips come back, and an unfinished upload goes on from the server's offset. The server reads
 * both before anything is stored: a refusal shows its own sentence in the chip or a notice, and
 * nothing is sent. The thread shows a sent photo, or a clip to play with its transcript. Where the
 * server hears English only (the embedded recogniser: <body data-hears-english-only>), the recording
 * chip and the clip's caption say so, as the photo chip says when only printed text is read. */

import { editPictureButton } from "./answer_render.js";
import { api } from "./api.js";
import { t } from "./i18n.js";
import { iconButton } from "./icons.js";
import { forgetPending, loadPending, savePending } from "./pending_media.js";
import { startRecording } from "./recorder.js";
import { uploadResumably } from "./resumable.js";
import { retryable } from "./resumable_plan.js";

export const PHOTO_MARKER = "[photo]"; // the stored text of a photo's message, before its caption
const OCR_READING = "[Photo, read by OCR";
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"];
const TICK_MS = 500;
// The server's refusals of an upload, and the recorder's failures, each with its own sentence.
const REFUSALS = {
  file_too_large: "media_too_large",
  unsupported_file_type: "photo_unsupported",
  file_type_mismatch: "photo_unsupported",
  image_too_many_pixels: "photo_too_many_pixels",
  broken_file: "media_broken",
  audio_too_long: "voice_too_long",
  empty_text: "voice_no_words",
  worker_unavailable: "media_unavailable",
  network: "server_unreachable",
  unsupported: "record_unsupported",
  denied: "record_denied",
  no_microphone: "record_no_microphone",
  failed: "record_failed",
};

export function refusalText(error) {
  return Object.hasOwn(REFUSALS, error.code) ? t(REFUSALS[error.code]) : error.detail || t("media_failed");
}

/** A stored user message's text as the thread shows it: a photo's message without its marker. */
export function shownText(content, attachment) {
  const photo = attachment && attachment.kind === "photo";
  return photo && content.startsWith(PHOTO_MARKER) ? content.slice(PHOTO_MARKER.length).trim() : content;
}

/** The embedded reading (media/ocr.py's block) knows a photo's printed text only: the chip says so. */
function readByOcr(attachment) {
  return (attachment.reading || "").startsWith(OCR_READING);
}

/** The server's speech recogniser knows English only (the embedded pocketsphinx; the chat page says it,
 * from MediaSettings.hears_english_only): recording and the clip's caption say so. */
function hearsEnglishOnly() {
  return document.body.getAttribute("data-hears-english-only") === "true";
}

function clock(seconds) {
  return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
}

/** The picture, or the clip to play, of a sent message: shown above its text (its caption or transcript).
 * A photo gets an Edit button when `onEdit` is given (a stored message). */
export function sentAttachment(attachment, onEdit = null) {
  const figure = document.createElement("figure");
  figure.className = "sent-media sent-" + attachment.kind;
  figure.setAttribute("data-testid", "sent-" + attachment.kind);
  if (attachment.kind === "photo") {
    const picture = document.createElement("img");
    picture.src = attachment.url;
    picture.alt = t("photo_sent");
    figure.appendChild(picture);
    if (onEdit) figure.appendChild(editPictureButton(onEdit));
    return figure;
  }
  const clip = document.createElement("audio");
  clip.controls = true;
  clip.preload = "metadata";
  clip.src = attachment.url;
  const caption = document.createElement("figcaption");
  const seconds = attachment.duration ? clock(Math.round(attachment.duration)) : "";
  const heard = hearsEnglishOnly() ? "voice_transcript_english_only" : "voice_transcript";
  caption.textContent = t(heard, { time: seconds });
  figure.append(clip, caption);
  return figure;
}

/**
 * els: {app, main, composer, photoAttach, photoInput, record, mediaPreview}; onChange() when a photo
 * becomes ready or goes; onPhotoAdded() when a photo comes into the composer (chosen, brought back
 * after a reload, or back from a failed message); onVoice(attachment) with a recorded voice message,
 * read and ready to send (also one brought back after a reload). Returns {ready() -> the photo to send
 * or null, busy(), clear(), restore(attachment)}.
 */
export function createMediaComposer({ els, showNotice, onChange, onPhotoAdded, onVoice }) {
  // {status: "uploading" | "ready" | "failed", progress, retryIn (s), preview, attachment, error, file,
  //  uploadId, stop (an AbortController while uploading)}
  let photo = null;
  let recording = null; // {handle, timer} while the microphone records
  // A recorded voice message on its way: {status: "uploading" | "failed", progress, retryIn, error,
  //  file (null until the recorder hands it over), uploadId, stop}; null once sent, refused or removed.
  let voice = null;

  els.photoAttach.setAttribute("aria-label", t("photo_attach"));
  els.photoAttach.title = t("photo_attach");
  els.record.setAttribute("aria-label", t("record_voice"));
  els.record.title = t("record_voice");

  function render() {
    const chips = [];
    if (photo) chips.push(photoChip());
    if (recording) chips.push(recordingChip());
    else if (voice) chips.push(voiceChip());
    els.mediaPreview.replaceChildren(...chips);
    els.mediaPreview.hidden = chips.length === 0;
    els.record.setAttribute("aria-pressed", recording ? "true" : "false");
    els.record.disabled = voice !== null; // one voice message at a time: this one is sent or removed first
    onChange();
  }

  function statusChip(text) {
    const chip = document.createElement("div");
    chip.className = "media-chip";
    const state = document.createElement("span");
    state.className = "media-chip-state";
    state.setAttribute("data-testid", "media-state");
    state.setAttribute("role", "status");
    state.textContent = text;
    chip.appendChild(state);
    return chip;
  }

  function photoState() {
    if (photo.status === "failed") return photo.error;
    if (photo.status === "ready") return t(readByOcr(photo.attachment) ? "photo_ready_ocr" : "photo_ready");
    if (photo.retryIn) return t("photo_upload_retrying", { seconds: photo.retryIn });
    return photo.progress < 100 ? t("photo_uploading", { percent: photo.progress }) : t("photo_reading");
  }

  /** The chip of a file on its way: its state, then a remove button; `ids` names both for the tests. */
  function uploadChip(item, state, ids, removeLabel, onRemove) {
    const chip = statusChip(state);
    chip.setAttribute("data-testid", ids.chip);
    chip.setAttribute("data-status", item.status);
    const remove = iconButton("media-remove", "close", removeLabel);
    remove.setAttribute("data-testid", ids.remove);
    remove.addEventListener("click", onRemove);
    chip.appendChild(remove);
    return chip;
  }

  function photoChip() {
    const ids = { chip: "media-chip", remove: "media-remove" };
    const chip = uploadChip(photo, photoState(), ids, t("photo_remove"), clear);
    const thumbnail = document.createElement("img");
    thumbnail.className = "media-thumbnail";
    thumbnail.setAttribute("data-testid", "media-thumbnail");
    thumbnail.src = photo.preview;
    thumbnail.alt = t("photo_preview");
    chip.prepend(thumbnail);
    return chip;
  }

  function voiceState() {
    if (voice.status === "failed") return voice.error;
    if (voice.retryIn) return t("photo_upload_retrying", { seconds: voice.retryIn });
    return voice.progress < 100 ? t("voice_uploading", { percent: voice.progress }) : t("voice_sending");
  }

  function voiceChip() {
    const ids = { chip: "voice-chip", remove: "voice-remove" };
    return uploadChip(voice, voiceState(), ids, t("voice_remove"), discardVoice);
  }

  function recordingChip() {
    const time = clock(recording.handle.seconds());
    const chip = statusChip(t(hearsEnglishOnly() ? "recording_english_only" : "recording", { time }));
    chip.classList.add("recording");
    chip.querySelector(".media-chip-state").setAttribute("data-testid", "recording-time");
    const dot = document.createElement("span");
    dot.className = "recording-dot";
    dot.setAttribute("aria-hidden", "true");
    const send = iconButton("record-stop", "stop", t("record_stop"));
    send.setAttribute("data-testid", "record-stop");
    send.addEventListener("click", stopAndSend);
    const cancel = iconButton("record-cancel", "close", t("record_cancel"));
    cancel.setAttribute("data-testid", "record-cancel");
    cancel.addEventListener("click", cancelRecording);
    chip.prepend(dot);
    chip.append(send, cancel);
    return chip;
  }

  // --- photos --------------------------------------------------------------------------------

  function choosePhoto(file) {
    clear();
    adopt(newUpload({ file, preview: URL.createObjectURL(file) }));
    if (!PHOTO_TYPES.includes(file.type)) {
      Object.assign(photo, { status: "failed", error: t("photo_unsupported") });
      return render();
    }
    keep(photo);
    sendPhoto(photo);
  }

  /** A photo or voice message starting on its way (`attachment` stays null for a voice message: it is
   * sent the moment the server has read it). */
  function newUpload(fields) {
    const blank = { status: "uploading", progress: 0, retryIn: 0, attachment: null, error: "", uploadId: null };
    return { ...blank, file: null, stop: null, ...fields };
  }

  /** Uploads `item.file` in resumable chunks, keeping `item` ({progress, retryIn, uploadId, stop})
   * up to date and drawn, and kept in the browser by keep(item) once the server names its upload.
   * Resolves to the attachment; rejects with the refusal, or with a failure retryable() names (the
   * server or the connection, still failing after the plan's retries), after which a reload goes on. */
  function uploadKept(item, keep) {
    const update = (fields) => {
      Object.assign(item, fields);
      render();
    };
    item.stop = new AbortController();
    render();
    return uploadResumably(item.file, {
      uploadId: item.uploadId,
      signal: item.stop.signal,
      onCreated: (uploadId) => {
        item.uploadId = uploadId;
        keep(item);
      },
      onProgress: (fraction) => update({ progress: Math.round(fraction * 100), retryIn: 0 }),
      onRetry: (ms) => update({ retryIn: Math.round(ms / 1000) }),
    }).finally(() => {
      item.stop = null;
    });
  }

  /** `chosen` becomes the composer's photo. */
  function adopt(chosen) {
    photo = chosen;
    onPhotoAdded();
  }

  /** The photo kept in the browser as it is now, so a reload finds it. */
  function keep(chosen) {
    if (photo !== chosen) return;
    savePending("photo", { file: chosen.file, uploadId: chosen.uploadId, attachment: chosen.attachment });
  }

  function sendPhoto(chosen) {
    uploadKept(chosen, keep).then(
      (stored) => {
        Object.assign(chosen, { status: "ready", attachment: stored, retryIn: 0 });
        keep(chosen);
        render();
      },
      (error) => {
        if (error.code === "aborted") return;
        // The server or the connection failing is not the photo's fault: a reload goes on with it.
        const stalled = retryable(error);
        if (!stalled && photo === chosen) forgetPending("photo");
        const failure = stalled ? t("photo_upload_stalled") : refusalText(error);
        Object.assign(chosen, { status: "failed", error: failure, retryIn: 0 });
        render();
      }
    );
  }

  /** The kept photo of before a reload: read and waiting for its message, or still on its way. */
  async function bringBackPhoto() {
    const kept = await loadPending("photo");
    if (!kept || photo) return; // nothing kept, or a photo was chosen meanwhile: it stays
    const preview = kept.file ? URL.createObjectURL(kept.file) : kept.attachment.url;
    if (kept.attachment) {
      adopt(newUpload({ status: "ready", progress: 100, preview, attachment: kept.attachment, file: kept.file }));
      return render();
    }
    adopt(newUpload({ preview, file: kept.file, uploadId: kept.uploadId }));
    sendPhoto(photo);
  }

  function clear() {
    if (photo) giveUp(photo);
    photo = null;
    forgetPending("photo");
    render();
  }

  /** A photo or voice message removed before it was read: its upload stops and the server drops its bytes. */
  function giveUp(chosen) {
    if (chosen.stop) chosen.stop.abort();
    if (chosen.uploadId && chosen.status !== "ready") api("DELETE", "/api/uploads/" + chosen.uploadId).catch(() => {});
    if (chosen.preview && chosen.preview.startsWith("blob:")) URL.revokeObjectURL(chosen.preview);
  }

  function firstImage(files) {
    return Array.from(files || []).find((file) => file.type.startsWith("image/")) || null;
  }

  // --- voice messages ------------------------------------------------------------------------

  async function toggleRecording() {
    if (recording) return stopAndSend();
    let handle;
    try {
      handle = await startRecording(stopAndSend);
    } catch (error) {
      showNotice(refusalText(error), "error");
      return;
    }
    recording = { handle, timer: window.setInterval(render, TICK_MS) };
    render();
  }

  function endRecording() {
    const { handle, timer } = recording;
    window.clearInterval(timer);
    recording = null;
    return handle;
  }

  function cancelRecording() {
    if (!recording) return;
    endRecording().cancel();
    render();
    els.composer.focus();
  }

  /** The voice message kept in the browser as it is now, so a reload sends it. */
  function keepVoice(sent) {
    if (voice === sent) savePending("voice", { file: sent.file, uploadId: sent.uploadId });
  }

  /** The voice message is no longer on its way (sent, refused or removed): a reload does not bring it back. */
  function dropVoice() {
    voice = null;
    forgetPending("voice");
    render();
  }

  async function stopAndSend() {
    if (!recording) return;
    const handle = endRecording();
    const sent = newUpload(); // its chip shows at once; the recorder hands the clip over a moment later
    voice = sent;
    render();
    try {
      sent.file = await handle.stop();
    } catch (error) {
      if (voice === sent) dropVoice();
      showNotice(refusalText(error), "error");
      return;
    }
    if (voice !== sent) return; // removed meanwhile
    keepVoice(sent);
    sendVoice(sent);
  }

  function sendVoice(sent) {
    uploadKept(sent, keepVoice).then(
      (stored) => {
        if (voice !== sent) return; // removed while the server read it
        dropVoice();
        onVoice(stored);
      },
      (error) => {
        if (error.code === "aborted" || voice !== sent) return;
        if (retryable(error)) {
          // Not the recording's fault: it stays, and a reload goes on with it.
          Object.assign(sent, { status: "failed", error: t("voice_upload_stalled"), retryIn: 0 });
          return render();
        }
        dropVoice();
        showNotice(refusalText(error), "error");
      }
    );
  }

  function discardVoice() {
    if (!voice) return;
    giveUp(voice);
    dropVoice();
    els.composer.focus();
  }

  /** The voice message of before a reload, still on its way: its upload goes on, and it is sent once read. */
  async function bringBackVoice() {
    const kept = await loadPending("voice");
    if (!kept || !kept.file || voice || recording) return;
    voice = newUpload({ file: kept.file, uploadId: kept.uploadId });
    sendVoice(voice);
  }

  // --- choosing: the button, a paste, a drop --------------------------------------------------

  els.photoAttach.addEventListener("click", () => els.photoInput.click());
  els.photoInput.addEventListener("change", () => {
    if (els.photoInput.files.length) choosePhoto(els.photoInput.files[0]);
    els.photoInput.value = ""; // the same photo can be chosen again
  });
  els.composer.addEventListener("paste", (event) => {
    const image = firstImage(event.clipboardData && event.clipboardData.files);
    if (!image) return;
    event.preventDefault();
    choosePhoto(image);
  });
  // Before the documents' own drop handler (on the chat inside): a dropped photo is a photo to send.
  els.app.addEventListener(
    "drop",
    (event) => {
      const image = firstImage(event.dataTransfer && event.dataTransfer.files);
      if (!image) return;
      event.preventDefault();
      event.stopPropagation();
      els.main.classList.remove("dropping");
      choosePhoto(image);
    },
    true
  );
  els.record.addEventListener("click", toggleRecording);
  bringBackPhoto();
  bringBackVoice();

  return {
    ready: () => (photo && photo.status === "ready" ? photo.attachment : null),
    busy: () =>
      (photo !== null && photo.status === "uploading") ||
      recording !== null ||
      (voice !== null && voice.status === "uploading"),
    clear,
    restore(attachment) {
      if (photo) return; // another photo was chosen meanwhile: it stays
      adopt(newUpload({ status: "ready", progress: 100, preview: attachment.url, attachment }));
      keep(photo);
      render();
    },
  };
}
