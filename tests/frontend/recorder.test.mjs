// The type a recorded voice message is declared as when its resumable upload starts
// (frontend/static/frontend/recorder.js): the server takes an upload only when its type or name says
// photo or audio, and reads the real kind from the bytes.

import assert from "node:assert/strict";
import { test } from "node:test";

import { declaredType } from "../../frontend/static/frontend/recorder.js";

test("a recorder's audio type is declared as it is, codecs included", () => {
  assert.equal(declaredType("audio/webm;codecs=opus"), "audio/webm;codecs=opus");
  assert.equal(declaredType("audio/ogg; codecs=opus"), "audio/ogg; codecs=opus");
  assert.equal(declaredType("audio/mp4"), "audio/mp4");
});

test("a recording whose type names no audio is declared as audio, for the bytes to decide", () => {
  assert.equal(declaredType(""), "audio/webm");
  assert.equal(declaredType(undefined), "audio/webm");
  assert.equal(declaredType("video/webm;codecs=opus"), "audio/webm"); // sound only, called video
  assert.equal(declaredType("application/octet-stream"), "audio/webm");
});
