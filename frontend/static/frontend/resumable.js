/* A photo or voice message sent to the server in chunks it can resume from (docs/protocol.md,
 * "Resumable uploads"): create the upload once, ask the server's offset after a reload, send 256 KiB
 * at a time from it (a 409 names the offset to go on from), then finish it, which answers the
 * attachment exactly as POST /api/attachments does. A dropped connection or a 5xx is tried again
 * with backoff (resumable_plan.js); a refusal of the file rejects at once. */

import { api, send } from "./api.js";
import { nextChunk, progressOf, retryDelay, retryable } from "./resumable_plan.js";

const NOT_FOUND = 404;
const OFFSET_MISMATCH = "upload_offset_mismatch";

function wait(ms, signal) {
  return new Promise((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    const stop = () => {
      window.clearTimeout(timer);
      resolve();
    };
    if (signal) signal.addEventListener("abort", stop, { once: true });
  });
}

/** `step()` again after a dropped connection or a 5xx, with the plan's waits; onRetry(ms) before each. */
async function persistently(step, { signal, onRetry }) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      const delay = retryable(error) ? retryDelay(attempt) : null;
      if (delay === null || (signal && signal.aborted)) throw error;
      onRetry(delay);
      await wait(delay, signal);
    }
  }
}

/** The server's offset of `uploadId`, or null when it is gone (expired, finished elsewhere and removed). */
async function serverOffset(uploadId) {
  try {
    return (await api("GET", "/api/uploads/" + uploadId)).offset;
  } catch (error) {
    if (error.status === NOT_FOUND) return null;
    throw error;
  }
}

async function sendFrom(file, uploadId, startOffset, { signal, onProgress, onRetry }) {
  let offset = startOffset;
  for (let range = nextChunk(offset, file.size); range; range = nextChunk(offset, file.size)) {
    const [start, end] = range;
    const sendChunk = () =>
      send("PATCH", "/api/uploads/" + uploadId, file.slice(start, end), {
        headers: { "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
        onProgress: (fraction) => onProgress(progressOf(start, fraction * (end - start), file.size)),
        signal,
      });
    try {
      offset = (await persistently(sendChunk, { signal, onRetry })).offset;
    } catch (error) {
      if (error.code !== OFFSET_MISMATCH || error.uploadOffset === null) throw error;
      offset = error.uploadOffset; // the server has more (an answer lost on the way) or less: go on from there
    }
    onProgress(progressOf(offset, 0, file.size));
  }
}

/**
 * Upload `file` (a File or Blob with a name and type) and resolve to the stored attachment.
 * `uploadId`: an upload started before a reload, resumed from the server's offset (a new one is
 * created when it is gone). onCreated(uploadId) once the server has an upload id, to keep with the
 * file; onProgress(fraction); onRetry(ms) before waiting to try again; `signal` aborts it.
 */
export async function uploadResumably(file, { uploadId = null, signal = null, onCreated, onProgress, onRetry }) {
  const hooks = { signal, onProgress, onRetry };
  let id = uploadId;
  let offset = id === null ? null : await persistently(() => serverOffset(id), hooks);
  if (offset === null) {
    const created = await persistently(
      () => api("POST", "/api/uploads", { size: file.size, type: file.type || "", name: file.name || "" }),
      hooks
    );
    id = created.id;
    offset = created.offset;
    onCreated(id);
  }
  await sendFrom(file, id, offset, hooks);
  return persistently(() => send("POST", "/api/uploads/" + id + "/finish", null, { signal }), hooks);
}
