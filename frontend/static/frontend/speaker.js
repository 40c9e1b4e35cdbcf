/* Answers read aloud. A speaker button under every finished answer plays it (GET
 * /api/messages/<id>/speech: made once by the server and kept, and kept here too, so a second click
 * costs nothing); one answer plays at a time, and its button then stops it. The voice-replies switch
 * (Settings; kept on the account, PATCH /api/settings, so messaging replies come as voice notes too)
 * plays each new answer as it finishes. */

import { api } from "./api.js";
import { t } from "./i18n.js";
import { iconButton } from "./icons.js";

const player = document.createElement("audio");
player.className = "answer-audio";
player.setAttribute("data-testid", "answer-audio");
player.hidden = true;
const clips = new Map(); // answer id -> object URL of its audio
let playingId = null; // the answer being read, or fetched to be read
let loading = false;
let voiceReplies = false;
let notify = () => {};

function label(messageId) {
  if (playingId !== messageId) return t("read_aloud");
  return loading ? t("read_aloud_loading") : t("read_aloud_stop");
}

function refreshButtons() {
  document.querySelectorAll("[data-speak-id]").forEach((button) => {
    const messageId = Number(button.getAttribute("data-speak-id"));
    const active = playingId === messageId;
    button.setAttribute("aria-pressed", active ? "true" : "false");
    button.setAttribute("aria-label", label(messageId));
    button.title = label(messageId);
    button.setAttribute("data-state", active ? (loading ? "loading" : "playing") : "idle");
  });
}

/** The speaker button of a finished answer. */
export function speakerButton(messageId) {
  const button = iconButton("speak", "speaker", t("read_aloud"));
  button.setAttribute("data-testid", "speak");
  button.setAttribute("data-speak-id", String(messageId));
  button.addEventListener("click", () => (playingId === messageId ? stop() : play(messageId)));
  window.queueMicrotask(refreshButtons); // drawn again while it plays: it says so
  return button;
}

async function clipOf(messageId) {
  if (clips.has(messageId)) return clips.get(messageId);
  const response = await fetch("/api/messages/" + messageId + "/speech", { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    const error = (body && body.error) || {};
    const unavailable = error.code === "worker_unavailable";
    throw new Error(unavailable ? t("read_aloud_unavailable") : error.detail || t("read_aloud_failed"));
  }
  const url = URL.createObjectURL(await response.blob());
  clips.set(messageId, url);
  return url;
}

async function play(messageId) {
  stop();
  playingId = messageId;
  loading = true;
  refreshButtons();
  try {
    const url = await clipOf(messageId);
    if (playingId !== messageId) return; // stopped, or another chosen, meanwhile
    if (!player.isConnected) document.body.appendChild(player);
    player.src = url;
    await player.play();
  } catch (error) {
    if (playingId === messageId) playingId = null;
    if (error.name !== "AbortError") notify(error.name === "NotAllowedError" ? t("read_aloud_blocked") : error.message);
  } finally {
    loading = false;
    refreshButtons();
  }
}

function stop() {
  player.pause();
  playingId = null;
  loading = false;
  refreshButtons();
}

player.addEventListener("ended", stop);

/** An answer that has just finished is read when voice replies are on. */
export function answerFinished(answer) {
  if (voiceReplies && answer.id !== null && answer.status === "complete" && answer.blocked === null && answer.text) {
    play(answer.id);
  }
}

/** els: {voiceReplies (a checkbox), voiceRepliesLabel}; reads the account's switch once, saves each change. */
export function createVoiceReplies({ els, showNotice }) {
  notify = (text) => showNotice(text, "error");
  els.voiceRepliesLabel.textContent = t("voice_replies");
  els.voiceReplies.disabled = true;
  const show = (settings) => {
    voiceReplies = settings.voice_replies;
    els.voiceReplies.checked = voiceReplies;
    els.voiceReplies.disabled = false;
  };
  api("GET", "/api/settings").then(show, () => {}); // unreachable now: the switch stays off until it answers
  els.voiceReplies.addEventListener("change", () => {
    els.voiceReplies.disabled = true;
    api("PATCH", "/api/settings", { voice_replies: els.voiceReplies.checked }).then(show, (error) => {
      els.voiceReplies.checked = voiceReplies;
      els.voiceReplies.disabled = false;
      showNotice(error.detail, "error");
    });
  });
}
