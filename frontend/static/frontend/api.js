/* The REST API (docs/protocol.md, "REST"): JSON in and out, the session cookie, and Django's CSRF
 * token on unsafe methods. Failures reject with an ApiError whose detail is a sentence for people. */

import { t } from "./i18n.js";

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
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

/** The parsed answer of a finished request, or the ApiError it stands for. */
function settle(status, text) {
  if (status === 204) return null;
  const data = parseJson(text);
  if (status >= 200 && status < 300) return data;
  const error = (data && data.error) || {};
  let detail = error.detail || t("server_status", { status });
  if (status === 401) detail = t("session_ended");
  throw new ApiError(status, error.code || "http_" + status, detail);
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

/** POST `form` (multipart) to `path`; onProgress(fraction) as the body goes out. XMLHttpRequest,
 * because fetch reports no upload progress. Resolves and rejects as api() does. */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      try {
        resolve(settle(request.status, request.responseText));
      } catch (error) {
        reject(error);
      }
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network", t("server_unreachable"))));
    request.send(form);
  });
}
