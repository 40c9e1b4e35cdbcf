/* The REST API (docs/protocol.md, "REST"): JSON in and out, the session cookie, and Django's CSRF
 * token on unsafe methods. Failures reject with an ApiError whose detail is a sentence for people. */

import { t } from "./i18n.js";

class ApiError extends Error {
  constructor(status, code, detail, uploadOffset = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.uploadOffset = uploadOffset; // a resumable upload's offset on the server (its 409 says it)
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch (_) {
    return null;
  }
}

/** The parsed answer of a finished request, or the ApiError it stands for; `offsetHeader` is the
 * answer's Upload-Offset header (null when it has none). */
function settle(status, text, offsetHeader = null) {
  if (status === 204) return null;
  const data = parseJson(text);
  if (status >= 200 && status < 300) return data;
  const error = (data && data.error) || {};
  let detail = error.detail || t("server_status", { status });
  if (status === 401) detail = t("session_ended");
  const offset = offsetHeader === null ? null : Number(offsetHeader);
  throw new ApiError(status, error.code || "http_" + status, detail, offset);
}

async function answerOf(response) {
  return settle(response.status, await response.text());
}

/** `method path` with an optional JSON body; resolves to the parsed answer (null for 204).
 * {keepalive: true} lets the request finish after the page is gone. */
export async function api(method, path, body, { keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, credentials: "same-origin", keepalive };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (_) {
    throw new ApiError(0, "network", t("server_unreachable"));
  }
  return answerOf(response);
}

/** POST `form` (multipart) to `path`; onProgress(fraction) as the body goes out. Resolves and
 * rejects as api() does. */
export function upload(path, form, onProgress) {
  return send("POST", path, form, { onProgress });
}

/** `method path` with `body` (FormData or Blob) and extra `headers`; onProgress(fraction) as the body
 * goes out (XMLHttpRequest, because fetch reports no upload progress); `signal` aborts it (rejects
 * with code "aborted"). Resolves and rejects as api() does. */
export function send(method, path, body, { headers = {}, onProgress = () => {}, signal = null } = {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, path);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", csrfToken());
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      try {
        resolve(settle(request.status, request.responseText, request.getResponseHeader("Upload-Offset")));
      } catch (error) {
        reject(error);
      }
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network", t("server_unreachable"))));
    request.addEventListener("abort", () => reject(new ApiError(0, "aborted", "")));
    request.send(body);
    if (signal && signal.aborted) request.abort();
    else if (signal) signal.addEventListener("abort", () => request.abort(), { once: true });
  });
}
