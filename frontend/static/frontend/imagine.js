/* The Imagine panel: a picture that follows the prompt as it is typed, a stored final render,
 * its animation, downloads and the user's gallery. Its own WebSocket (/ws/imagine), opened when
 * the panel is first shown. The wire contract is docs/protocol.md ("Imagine"). Plain script, no
 * build step; i18n.js (window.i18n) loads first.
 */
(function () {
  "use strict";

  var SEND_EVERY_MS = 150; // while typing, the newest prompt goes out at most this often
  var RECONNECT_MIN_MS = 500;
  var RECONNECT_MAX_MS = 5000;
  var SESSION_CLOSED = 4401;
  var ERROR_KEYS = {
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

  var t = window.i18n.t;

  function byId(id) {
    return document.getElementById(id);
  }

  var els = {
    open: byId("imagine-open"),
    dialog: byId("imagine-dialog"),
    close: byId("imagine-close"),
    form: byId("imagine-form"),
    prompt: byId("imagine-prompt"),
    create: byId("imagine-create"),
    error: byId("imagine-error"),
    empty: byId("imagine-empty"),
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

  // seq numbers every prompt and final request of this page; an image older than the one on
  // screen (a smaller seq) is never shown.
  var state = {
    socket: null,
    sessionGone: false,
    reconnectDelay: RECONNECT_MIN_MS,
    reconnectTimer: 0,
    sendTimer: 0,
    seq: 0,
    sent: null, // {prompt, size} of the last prompt frame
    shownSeq: -1,
    finalSeq: null, // seq of the final render being waited for
    image: null, // the stored picture on screen: {id, url, prompt}
    animatingId: null,
  };

  // --- socket ------------------------------------------------------------------------------

  function socketUrl() {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/imagine";
  }

  function socketOpen() {
    return !!state.socket && state.socket.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (!socketOpen()) {
      showError(t(state.sessionGone ? "session_ended" : "not_connected"));
      return false;
    }
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (state.sessionGone || state.socket) return;
    var ws = new WebSocket(socketUrl());
    state.socket = ws;
    setConnection("connecting");
    ws.addEventListener("open", function () {
      state.reconnectDelay = RECONNECT_MIN_MS;
      setConnection("open");
      state.sent = null; // a new socket has a new session: the prompt is sent again
      schedulePrompt();
    });
    ws.addEventListener("message", function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (frame && typeof frame.type === "string") handleFrame(frame);
    });
    ws.addEventListener("close", function (event) {
      if (state.socket !== ws) return;
      state.socket = null;
      setConnection("closed");
      if (event.code === SESSION_CLOSED) {
        state.sessionGone = true;
        showError(t("session_ended"));
        return;
      }
      if (els.dialog.open) scheduleReconnect();
    });
  }

  /** The panel's data-connection says where the socket stands; Create waits for an open one. */
  function setConnection(name) {
    els.dialog.setAttribute("data-connection", name);
    updateCreate();
  }

  function updateCreate() {
    els.create.disabled = !currentPrompt() || !socketOpen() || state.finalSeq !== null;
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, RECONNECT_MAX_MS);
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
    var checked = els.form.querySelector("input[name=imagine-size]:checked");
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
    state.sendTimer = setTimeout(function () {
      state.sendTimer = 0;
      sendPrompt();
    }, SEND_EVERY_MS);
  }

  function sendPrompt() {
    var prompt = currentPrompt();
    var size = chosenSize();
    if (!prompt || !socketOpen()) return;
    if (state.sent && state.sent.prompt === prompt && state.sent.size === size) return;
    var seq = nextSeq();
    state.sent = { prompt: prompt, size: size };
    els.prompt.setAttribute("data-sent-seq", String(seq));
    sendFrame({ type: "imagine.prompt", prompt: prompt, seq: seq, size: size });
  }

  function createFinal(event) {
    event.preventDefault();
    var prompt = currentPrompt();
    if (!prompt || state.finalSeq !== null) return;
    var size = chosenSize();
    var seq = nextSeq();
    if (!sendFrame({ type: "imagine.final", prompt: prompt, seq: seq, size: size })) return;
    // The final render stands for this prompt: a preview of it sent later would hide it.
    clearTimeout(state.sendTimer);
    state.sendTimer = 0;
    state.sent = { prompt: prompt, size: size };
    state.finalSeq = seq;
    updateCreate();
    hideError();
    setStatus(t("imagine_creating"));
  }

  // --- frames from the server --------------------------------------------------------------

  function onImage(frame) {
    if (frame.final && frame.seq === state.finalSeq) {
      finishFinal();
      setStatus(t("imagine_created"));
      loadGallery(); // kept there even when the user has typed on since
    }
    if (frame.seq <= state.shownSeq) return; // an older picture than the one on screen
    state.shownSeq = frame.seq;
    showPicture(frame);
    if (frame.final) showStored({ id: frame.image_id, url: frame.url, prompt: currentPrompt() });
    else hideStored();
  }

  function showPicture(frame) {
    els.preview.src = frame.url;
    els.preview.width = frame.width;
    els.preview.height = frame.height;
    els.preview.alt = currentPrompt();
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

  /** Offers Download and Animate for a stored picture (a final render or a gallery item). */
  function showStored(image) {
    state.image = image;
    els.download.href = image.url;
    els.download.setAttribute("download", "imagine-" + image.id + ".png");
    els.animate.disabled = state.animatingId !== null;
    els.finalActions.hidden = false;
    hideClip();
  }

  function hideStored() {
    state.image = null;
    els.finalActions.hidden = true;
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
    showProgressText();
    els.animating.hidden = false;
  }

  function showProgressText() {
    els.progressText.textContent = t("imagine_progress", { done: els.progress.value, total: els.progress.max });
  }

  function onProgress(frame) {
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
    loadGallery();
  }

  function onError(frame) {
    if (frame.code === "rate_limited") {
      // Typing outpaces rendering: the newest prompt is drawn next, nothing went wrong.
      setStatus(t("imagine_catching_up"));
      return;
    }
    if (frame.seq !== undefined && frame.seq === state.finalSeq) finishFinal();
    if (frame.image_id !== undefined && frame.image_id === state.animatingId) {
      state.animatingId = null;
      els.animating.hidden = true;
      els.animate.disabled = !state.image;
    }
    var key = ERROR_KEYS[frame.code];
    showError(key ? t(key) : frame.detail || t("imagine_error_internal"));
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

  // --- gallery -----------------------------------------------------------------------------

  function loadGallery() {
    fetch("/api/imagine", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(t("server_status", { status: response.status }));
        return response.json();
      })
      .then(function (data) {
        renderGallery(data.images || []);
      })
      .catch(function () {
        showError(t("imagine_gallery_failed"));
      });
  }

  function renderGallery(items) {
    els.gallery.replaceChildren.apply(els.gallery, items.map(galleryItem));
    els.galleryEmpty.hidden = items.length > 0;
  }

  function galleryItem(item) {
    var li = document.createElement("li");
    li.className = "imagine-gallery-item";
    li.setAttribute("data-testid", "imagine-gallery-item");
    li.setAttribute("data-kind", item.kind);
    li.setAttribute("data-id", String(item.id));
    var media = item.kind === "clip" ? document.createElement("video") : document.createElement("img");
    media.width = item.width;
    media.height = item.height;
    if (item.kind === "clip") {
      media.src = item.mp4_url;
      media.muted = true;
      media.loop = true;
      media.autoplay = true;
      media.playsInline = true;
      media.setAttribute("aria-label", item.prompt);
    } else {
      media.src = item.url;
      media.alt = item.prompt;
      media.loading = "lazy";
    }
    var open = document.createElement("a");
    open.className = "imagine-gallery-link";
    open.href = item.kind === "clip" ? item.mp4_url : item.url;
    open.title = item.prompt;
    open.appendChild(media);
    if (item.kind === "image") open.addEventListener("click", selectFromGallery.bind(null, item));
    li.appendChild(open);
    return li;
  }

  /** A gallery picture becomes the one on screen, ready to download or animate. */
  function selectFromGallery(item, event) {
    event.preventDefault();
    showPicture({ url: item.url, width: item.width, height: item.height, seq: state.shownSeq, final: true });
    els.preview.alt = item.prompt;
    showStored({ id: item.id, url: item.url, prompt: item.prompt });
    setStatus(item.prompt);
    els.animate.focus();
  }

  // --- the panel ---------------------------------------------------------------------------

  function openPanel() {
    connect();
    loadGallery();
    els.dialog.showModal();
    els.prompt.focus();
  }

  els.open.addEventListener("click", openPanel);
  els.close.addEventListener("click", function () {
    els.dialog.close();
  });
  els.prompt.addEventListener("input", schedulePrompt);
  els.form.addEventListener("change", schedulePrompt); // a new size redraws the prompt
  els.form.addEventListener("submit", createFinal);
  els.prompt.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) createFinal(event);
  });
  els.animate.addEventListener("click", startAnimation);
})();
