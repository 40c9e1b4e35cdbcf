/* A voice message recorded with the microphone: MediaRecorder, Opus in WebM where the browser makes it
 * (Chrome, Firefox), in MP4 otherwise (Safari); the server reads the type from the bytes either way. */

// The first type the browser records; "" lets it choose (the server sniffs the bytes).
const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];
export const MAX_SECONDS = 300; // a longer recording stops and is sent; the server's cap is higher

/** The failures a recording can have, each with its own sentence (attachments.js). */
export class RecorderError extends Error {
  constructor(code) {
    super(code);
    this.code = code; // "unsupported" | "denied" | "no_microphone" | "failed"
  }
}

/** The type a recording is declared as when its upload starts: the recorder's own when it names audio,
 * else "audio/webm". The server refuses an upload whose type names no kind (a recorder that reported
 * none, or "video/webm" for sound only) and reads the real kind from the bytes either way. */
export function declaredType(type) {
  return type && type.startsWith("audio/") ? type : "audio/webm";
}

function supportedType() {
  return TYPES.find((type) => window.MediaRecorder.isTypeSupported(type)) || "";
}

function refusal(error) {
  if (error && (error.name === "NotAllowedError" || error.name === "SecurityError")) return "denied";
  if (error && (error.name === "NotFoundError" || error.name === "OverconstrainedError")) return "no_microphone";
  return "failed";
}

/** Starts recording; resolves to {stop() -> Promise<Blob>, cancel(), seconds()} or rejects with a RecorderError.
 * The Blob's type is declaredType()'s.
 * onLimit() is called when MAX_SECONDS have been recorded. */
export async function startRecording(onLimit) {
  if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new RecorderError("unsupported");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    throw new RecorderError(refusal(error));
  }
  const type = supportedType();
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  const started = Date.now();
  recorder.addEventListener("dataavailable", (event) => {
    if (event.data.size) chunks.push(event.data);
  });
  const limit = window.setTimeout(onLimit, MAX_SECONDS * 1000);
  const ended = new Promise((resolve, reject) => {
    recorder.addEventListener("stop", () =>
      resolve(new Blob(chunks, { type: declaredType(recorder.mimeType || type) }))
    );
    recorder.addEventListener("error", () => reject(new RecorderError("failed")));
  });

  function finish() {
    window.clearTimeout(limit);
    if (recorder.state !== "inactive") recorder.stop();
    stream.getTracks().forEach((track) => track.stop()); // the browser's "recording" indicator goes off
  }

  recorder.start();
  return {
    stop() {
      finish();
      return ended;
    },
    cancel() {
      finish();
      ended.catch(() => {}); // nobody waits for a cancelled recording
    },
    seconds: () => Math.floor((Date.now() - started) / 1000),
  };
}
