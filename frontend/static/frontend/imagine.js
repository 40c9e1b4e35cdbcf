/* The Imagine panel (entry module): a picture that follows the prompt as it is typed, a stored
 * final render, its edits ("make it watercolour") and animation, downloads and the user's gallery. Its own WebSocket (/ws/imagine,
 * through socket.js like the chat's), opened when the panel is first shown and reconnected while
 * the panel is open. The wire contract is docs/protocol.md ("Imagine").
 *
 * The stage keeps its size whatever it shows (nothing, the drawing state, a picture), so the panel
 * never jumps; a refused prompt takes the picture before it off the stage, with its buttons. When
 * the server runs the embedded stand-in pipeline (<dialog data-stand-in="true">), the panel says that
 * its pictures are noise by design.
 */

import { t } from "./i18n.js";
import { createGallery } from "./imagine_gallery.js";
import { createSocket, socketUrl } from "./socket.js";

const SEND_EVERY_MS = 150; // while typing, the newest prompt goes out at most this often
const ERROR_KEYS = {
  invalid_frame: "imagine_error_invalid_frame",
  empty_prompt: "imagine_error_empty_prompt",
  prompt_too_long: "imagine_error_prompt_too_long",
  unknown_size: "imagine_error_unknown_size",
  blocked: "imagine_error_blocked",
  not_found: "imagine_error_not_found",
  gpu_out_of_memory: "imagine_error_busy",
  worker_unavailable: "imagine_error_unavailable",
  render_failed: "imagine_error_render_failed",
  internal: "imagine_error_internal",
};

// An edit's refusals that need their own words (an instruction, not a description; a limit, not typing).
const EDIT_ERROR_KEYS = {
  blocked: "imagine_error_edit_blocked",
  rate_limited: "imagine_error_edit_rate_limited",
};

function byId(id) {
  return document.getElementById(id);
}

const els = {
  open: byId("imagine-open"),
  dialog: byId("imagine-dialog"),
  close: byId("imagine-close"),
  form: byId("imagine-form"),
  prompt: byId("imagine-prompt"),
  create: byId("imagine-create"),
  error: byId("imagine-error"),
  stage: byId("imagine-stage"),
  empty: byId("imagine-empty"),
  standIn: byId("imagine-stand-in"),
  preview: byId("imagine-preview"),
  clip: byId("imagine-clip"),
  status: byId("imagine-status"),
  finalActions: byId("imagine-final-actions"),
  download: byId("imagine-download"),
  animate: byId("imagine-animate"),
  animating: byId("imagine-animating"),
  progress: byId("imagine-progress"),
  progressText: byId("imagine-progress-text"),
  clipActions: byId("imagine-clip-actions"),
  downloadMp4: byId("imagine-download-mp4"),
  downloadGif: byId("imagine-download-gif"),
  gallery: byId("imagine-gallery"),
  galleryEmpty: byId("imagine-gallery-empty"),
};
Object.assign(els, buildEditControls());

// seq numbers every prompt and final request of this page; an image older than the one on
// screen (a smaller seq) is never shown.
const state = {
  sendTimer: 0,
  seq: 0,
  sent: null, // {prompt, size} of the last prompt frame
  shownSeq: -1,
  finalSeq: null, // seq of the final render being waited for
  image: null, // the stored picture on screen: {id, url, prompt}
  animatingId: null,
  awaitedSeq: null, // the newest prompt or final sent whose picture has not come yet
  editSeq: null, // seq of the edit being waited for
  editAlt: "", // what the edited picture shows, for its alt text
};
const EMPTY_TEXT = els.empty.textContent; // "Start typing to see your picture." in the page's language

const socket = createSocket({
  url: socketUrl(window.location, "/ws/imagine"),
  onOpen: () => {
    state.sent = null; // a new socket has a new session: the prompt is sent again
    schedulePrompt();
  },
  onFrame: handleFrame,
  onClose: (sessionEnded) => {
    if (sessionEnded) showError(t("session_ended"));
  },
  // The panel's data-connection says where the socket stands; Create waits for an open one.
  onStatus: (status) => {
    els.dialog.setAttribute("data-connection", status);
    updateCreate();
  },
  shouldReconnect: () => els.dialog.open,
});

const gallery = createGallery({
  els,
  onSelect: selectFromGallery,
  onEdit: editFromGallery,
  onError: () => showError(t("imagine_gallery_failed")),
});

function sendFrame(frame) {
  if (socket.send(frame)) return true;
  showError(t(socket.sessionEnded() ? "session_ended" : "not_connected"));
  return false;
}

function updateCreate() {
  els.create.disabled = !currentPrompt() || !socket.isOpen() || state.finalSeq !== null;
}

function handleFrame(frame) {
  switch (frame.type) {
    case "imagine.image":
      onImage(frame);
      break;
    case "imagine.progress":
      onProgress(frame);
      break;
    case "imagine.clip":
      onClip(frame);
      break;
    case "error":
      onError(frame);
      break;
  }
}

// --- typing and creating -----------------------------------------------------------------

function chosenSize() {
  const checked = els.form.querySelector("input[name=imagine-size]:checked");
  return checked ? checked.value : "square";
}

function currentPrompt() {
  return els.prompt.value.trim();
}

function nextSeq() {
  state.seq += 1;
  return state.seq;
}

/** Sends the newest prompt within SEND_EVERY_MS: several times a second while typing, and
 * once more after the last key, so a pause always shows the whole prompt. */
function schedulePrompt() {
  updateCreate();
  if (state.sendTimer) return;
  state.sendTimer = setTimeout(() => {
    state.sendTimer = 0;
    sendPrompt();
  }, SEND_EVERY_MS);
}

function sendPrompt() {
  const prompt = currentPrompt();
  const size = chosenSize();
  if (!prompt || !socket.isOpen()) return;
  if (state.sent && state.sent.prompt === prompt && state.sent.size === size) return;
  const seq = nextSeq();
  state.sent = { prompt, size };
  els.prompt.setAttribute("data-sent-seq", String(seq));
  if (sendFrame({ type: "imagine.prompt", prompt, seq, size })) awaitPicture(seq);
}

/** The stage says a picture is being drawn until the one for `seq` (or a newer one) arrives. */
function awaitPicture(seq) {
  state.awaitedSeq = seq;
  els.stage.setAttribute("aria-busy", "true");
  if (els.preview.hidden && els.clip.hidden) els.empty.textContent = t("imagine_drawing");
}

/** The picture (or the refusal) for the awaited `seq` came: the stage is no longer drawing. */
function pictureArrived(seq) {
  if (state.awaitedSeq === null || seq < state.awaitedSeq) return;
  state.awaitedSeq = null;
  els.stage.setAttribute("aria-busy", "false");
  els.empty.textContent = EMPTY_TEXT; // shown again only while the stage has no picture
}

function createFinal(event) {
  event.preventDefault();
  const prompt = currentPrompt();
  if (!prompt || state.finalSeq !== null) return;
  const size = chosenSize();
  const seq = nextSeq();
  if (!sendFrame({ type: "imagine.final", prompt, seq, size })) return;
  // The final render stands for this prompt: a preview of it sent later would hide it.
  clearTimeout(state.sendTimer);
  state.sendTimer = 0;
  state.sent = { prompt, size };
  state.finalSeq = seq;
  awaitPicture(seq);
  updateCreate();
  hideError();
  setStatus(t("imagine_creating"));
}

// --- frames from the server --------------------------------------------------------------

function onImage(frame) {
  const edited = frame.final && frame.seq === state.editSeq;
  const alt = edited ? state.editAlt : currentPrompt();
  if (frame.final && frame.seq === state.finalSeq) {
    finishFinal();
    setStatus(t("imagine_created"));
    gallery.load(); // kept there even when the user has typed on since
  }
  if (edited) {
    finishEdit();
    setStatus(t("imagine_edited"));
    gallery.load();
  }
  pictureArrived(frame.seq);
  if (frame.seq <= state.shownSeq) return; // an older picture than the one on screen
  state.shownSeq = frame.seq;
  showPicture(frame, alt);
  if (frame.final) showStored({ id: frame.image_id, url: frame.url, prompt: alt });
  else hideStored();
}

function showPicture(frame, alt) {
  els.preview.src = frame.url;
  els.preview.width = frame.width;
  els.preview.height = frame.height;
  els.preview.alt = alt;
  els.preview.setAttribute("data-seq", String(frame.seq));
  els.preview.setAttribute("data-final", frame.final ? "true" : "false");
  els.preview.hidden = false;
  els.empty.hidden = true;
  hideError();
}

function finishFinal() {
  state.finalSeq = null;
  updateCreate();
}

/** Offers Download, Edit and Animate for a stored picture (a final render, an edit or a gallery item). */
function showStored(image) {
  state.image = image;
  els.download.href = image.url;
  els.download.setAttribute("download", "imagine-" + image.id + ".png");
  els.animate.disabled = state.animatingId !== null;
  els.edit.disabled = state.editSeq !== null;
  els.finalActions.hidden = false;
  hideClip();
}

function hideStored() {
  state.image = null;
  els.finalActions.hidden = true;
  closeEditForm();
  hideClip();
}

function hideClip() {
  els.clip.hidden = true;
  els.clip.removeAttribute("src");
  els.clipActions.hidden = true;
  if (state.animatingId === null) els.animating.hidden = true;
}

function startAnimation() {
  if (!state.image || state.animatingId !== null) return;
  if (!sendFrame({ type: "imagine.animate", image_id: state.image.id })) return;
  state.animatingId = state.image.id;
  els.animate.disabled = true;
  showProgress(0, 1);
  setStatus(t("imagine_animating"));
}

function showProgress(done, total) {
  els.progress.max = total;
  els.progress.value = done;
  els.progress.setAttribute("data-done", String(done));
  els.progressText.textContent = t("imagine_progress", { done: els.progress.value, total: els.progress.max });
  els.animating.hidden = false;
}

function onProgress(frame) {
  if (frame.seq !== undefined) {
    if (frame.seq === state.editSeq) setStatus(t("imagine_edit_progress", { done: frame.done, total: frame.total }));
    return;
  }
  if (frame.image_id === state.animatingId) showProgress(frame.done, frame.total);
}

function onClip(frame) {
  if (frame.image_id !== state.animatingId) return;
  state.animatingId = null;
  els.animating.hidden = true;
  els.animate.disabled = false;
  els.clip.src = frame.mp4_url;
  els.clip.setAttribute("data-frames", String(frame.frames));
  els.clip.setAttribute("data-clip-id", String(frame.clip_id));
  els.clip.setAttribute("aria-label", els.preview.alt);
  els.clip.hidden = false;
  els.preview.hidden = true;
  els.downloadMp4.href = frame.mp4_url;
  els.downloadMp4.setAttribute("download", "imagine-" + frame.clip_id + ".mp4");
  els.downloadGif.href = frame.gif_url;
  els.downloadGif.setAttribute("download", "imagine-" + frame.clip_id + ".gif");
  els.clipActions.hidden = false;
  setStatus(t("imagine_animated"));
  gallery.load();
}

function onError(frame) {
  if (frame.seq !== undefined && frame.seq === state.editSeq) {
    onEditError(frame);
    return;
  }
  if (frame.code === "rate_limited") {
    // Typing outpaces rendering: the newest prompt is drawn next, nothing went wrong.
    setStatus(t("imagine_catching_up"));
    return;
  }
  if (frame.seq !== undefined) pictureArrived(frame.seq);
  if (frame.seq !== undefined && frame.seq === state.finalSeq) finishFinal();
  if (frame.code === "blocked") clearStage(frame.seq);
  if (frame.image_id !== undefined && frame.image_id === state.animatingId) {
    state.animatingId = null;
    els.animating.hidden = true;
    els.animate.disabled = !state.image;
  }
  const key = ERROR_KEYS[frame.code];
  showError(key ? t(key) : frame.detail || t("imagine_error_internal"));
}

/** A refused prompt: the picture of an earlier prompt, and its Download and Animate, leave the stage
 * (an older preview arriving later stays off it too). */
function clearStage(seq) {
  if (seq !== undefined) state.shownSeq = Math.max(state.shownSeq, seq);
  els.preview.hidden = true;
  els.preview.removeAttribute("src");
  els.empty.textContent = EMPTY_TEXT;
  els.empty.hidden = false;
  hideStored();
}

// --- messages ----------------------------------------------------------------------------

function setStatus(text) {
  els.status.textContent = text;
}

function showError(text) {
  els.error.textContent = text;
  els.error.hidden = false;
  setStatus("");
}

function hideError() {
  els.error.hidden = true;
  els.error.textContent = "";
}

/** A gallery picture becomes the one on screen, ready to download, edit or animate. */
function selectFromGallery(item, event) {
  event.preventDefault();
  showGalleryItem(item);
  els.animate.focus();
}

function showGalleryItem(item) {
  showPicture({ url: item.url, width: item.width, height: item.height, seq: state.shownSeq, final: true }, item.prompt);
  showStored({ id: item.id, url: item.url, prompt: item.prompt });
  setStatus(item.prompt);
}

// --- editing a stored picture ------------------------------------------------------------

/** The Edit button (beside Download and Animate) and the instruction form it opens. */
function buildEditControls() {
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "button button-quiet";
  edit.id = "imagine-edit";
  edit.setAttribute("data-testid", "imagine-edit");
  edit.setAttribute("aria-controls", "imagine-edit-form");
  edit.setAttribute("aria-expanded", "false");
  edit.textContent = t("imagine_edit");
  byId("imagine-animate").before(edit);

  const form = document.createElement("form");
  form.className = "imagine-edit-form";
  form.id = "imagine-edit-form";
  form.setAttribute("data-testid", "imagine-edit-form");
  form.autocomplete = "off";
  form.hidden = true;
  const label = document.createElement("label");
  label.htmlFor = "imagine-instruction";
  label.textContent = t("imagine_edit_label");
  const instruction = document.createElement("input");
  instruction.type = "text";
  instruction.id = "imagine-instruction";
  instruction.setAttribute("data-testid", "imagine-instruction");
  instruction.maxLength = 500;
  instruction.placeholder = t("imagine_edit_placeholder");
  const apply = document.createElement("button");
  apply.type = "submit";
  apply.className = "button button-primary";
  apply.setAttribute("data-testid", "imagine-edit-apply");
  apply.textContent = t("imagine_edit_apply");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "button button-quiet";
  cancel.textContent = t("imagine_edit_cancel");
  form.append(label, instruction, apply, cancel);
  byId("imagine-final-actions").after(form);
  return { edit, editForm: form, instruction, editApply: apply, editCancel: cancel };
}

function openEditForm() {
  if (!state.image) return;
  els.editForm.hidden = false;
  els.edit.setAttribute("aria-expanded", "true");
  updateEditApply();
  els.instruction.focus();
}

function closeEditForm() {
  els.editForm.hidden = true;
  els.edit.setAttribute("aria-expanded", "false");
}

function updateEditApply() {
  els.editApply.disabled = !els.instruction.value.trim() || state.editSeq !== null;
}

function sendEdit(event) {
  event.preventDefault();
  const instruction = els.instruction.value.trim();
  if (!instruction || !state.image || state.editSeq !== null) return;
  const seq = nextSeq();
  if (!sendFrame({ type: "imagine.edit", image_id: state.image.id, instruction, seq })) return;
  state.editSeq = seq;
  state.editAlt = instruction + ", " + state.image.prompt; // as the server words the edit's prompt
  els.edit.disabled = true;
  els.editForm.setAttribute("aria-busy", "true");
  updateEditApply();
  awaitPicture(seq);
  hideError();
  setStatus(t("imagine_editing"));
}

function finishEdit() {
  state.editSeq = null;
  els.edit.disabled = !state.image;
  els.editForm.setAttribute("aria-busy", "false");
  els.instruction.value = "";
  closeEditForm();
}

/** A refused or failed edit: the original stays on the stage and the instruction stays to change. */
function onEditError(frame) {
  state.editSeq = null;
  els.edit.disabled = !state.image;
  els.editForm.setAttribute("aria-busy", "false");
  updateEditApply();
  pictureArrived(frame.seq);
  const key = EDIT_ERROR_KEYS[frame.code] || ERROR_KEYS[frame.code];
  showError(key ? t(key) : frame.detail || t("imagine_error_internal"));
}

/** A gallery picture's Edit: it goes on the stage with the instruction field open. */
function editFromGallery(item) {
  showGalleryItem(item);
  openEditForm();
}

// --- the panel ---------------------------------------------------------------------------

function openPanel() {
  els.standIn.hidden = els.dialog.getAttribute("data-stand-in") !== "true";
  if (!els.standIn.hidden) els.standIn.textContent = t("imagine_stand_in");
  socket.connect();
  gallery.load();
  els.dialog.showModal();
  els.prompt.focus();
}

els.open.addEventListener("click", openPanel);
els.close.addEventListener("click", () => els.dialog.close());
els.prompt.addEventListener("input", schedulePrompt);
els.form.addEventListener("change", schedulePrompt); // a new size redraws the prompt
els.form.addEventListener("submit", createFinal);
els.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) createFinal(event);
});
els.animate.addEventListener("click", startAnimation);
els.edit.addEventListener("click", () => (els.editForm.hidden ? openEditForm() : closeEditForm()));
els.editForm.addEventListener("submit", sendEdit);
els.instruction.addEventListener("input", updateEditApply);
els.editCancel.addEventListener("click", closeEditForm);
