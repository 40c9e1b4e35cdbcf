/* The arithmetic of a resumable upload (docs/protocol.md, "Resumable uploads"), apart from the network
 * so `node --test` checks it: which bytes go next, whose failure is worth another try, and how long to
 * wait before it. resumable.js does the sending. */

export const CHUNK_BYTES = 256 * 1024;
// A dropped connection or a restarting server is tried again after these waits (ms), about half a
// minute in all; then the chip says the upload stopped, and a reload goes on from the server's offset.
export const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000];

/** The [start, end) byte range of the next chunk from `offset`, or null when all `size` bytes are sent. */
export function nextChunk(offset, size, chunkBytes = CHUNK_BYTES) {
  if (offset >= size) return null;
  return [offset, Math.min(size, offset + chunkBytes)];
}

/** Whether the same request may succeed later: no answer at all (offline), or the server's trouble
 * rather than a refusal of the file (5xx, 429). */
export function retryable(error) {
  if (error.code === "aborted") return false;
  return error.status === 0 || error.status === 429 || error.status >= 500;
}

/** How long to wait before try number `attempt` (1 for the first retry), or null: give up. */
export function retryDelay(attempt) {
  return attempt >= 1 && attempt <= RETRY_DELAYS_MS.length ? RETRY_DELAYS_MS[attempt - 1] : null;
}

/** The fraction of the file the server holds, with `sending` bytes of the current chunk on their way. */
export function progressOf(offset, sending, size) {
  return Math.min(1, (offset + sending) / size);
}
