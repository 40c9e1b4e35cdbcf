// The arithmetic of a resumable upload (frontend/static/frontend/resumable_plan.js): which bytes go
// next, which failures are tried again, and the backoff before each try.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CHUNK_BYTES,
  RETRY_DELAYS_MS,
  nextChunk,
  progressOf,
  retryDelay,
  retryable,
} from "../../frontend/static/frontend/resumable_plan.js";

test("chunks run from the server's offset to the end of the file, the last one short", () => {
  assert.deepEqual(nextChunk(0, 600_000), [0, CHUNK_BYTES]);
  assert.deepEqual(nextChunk(CHUNK_BYTES, 600_000), [CHUNK_BYTES, 2 * CHUNK_BYTES]);
  assert.deepEqual(nextChunk(2 * CHUNK_BYTES, 600_000), [2 * CHUNK_BYTES, 600_000]);
  assert.deepEqual(nextChunk(1000, 600_000, 4096), [1000, 5096]); // resumes from any offset the server names
  assert.equal(nextChunk(600_000, 600_000), null);
});

test("a file smaller than a chunk goes in one", () => {
  assert.deepEqual(nextChunk(0, 10), [0, 10]);
});

test("only a missing answer, the server's trouble and a rate limit are tried again", () => {
  assert.equal(retryable({ status: 0, code: "network" }), true);
  assert.equal(retryable({ status: 502, code: "http_502" }), true);
  assert.equal(retryable({ status: 503, code: "service_unavailable" }), true);
  assert.equal(retryable({ status: 429, code: "rate_limited" }), true);
  assert.equal(retryable({ status: 415, code: "file_type_mismatch" }), false);
  assert.equal(retryable({ status: 413, code: "file_too_large" }), false);
  assert.equal(retryable({ status: 409, code: "upload_offset_mismatch" }), false);
  assert.equal(retryable({ status: 404, code: "not_found" }), false);
  assert.equal(retryable({ status: 0, code: "aborted" }), false); // the person removed the photo
});

test("the waits double, then the upload gives up", () => {
  const waits = [];
  for (let attempt = 1; retryDelay(attempt) !== null; attempt += 1) waits.push(retryDelay(attempt));
  assert.deepEqual(waits, RETRY_DELAYS_MS);
  waits.slice(1).forEach((wait, index) => assert.equal(wait, 2 * waits[index]));
  assert.equal(retryDelay(RETRY_DELAYS_MS.length + 1), null);
  assert.equal(retryDelay(0), null);
});

test("progress counts what the server holds plus the part of the chunk on its way", () => {
  assert.equal(progressOf(0, 0, 1000), 0);
  assert.equal(progressOf(500, 250, 1000), 0.75);
  assert.equal(progressOf(1000, 0, 1000), 1);
  assert.equal(progressOf(900, 500, 1000), 1); // never past the end
});
