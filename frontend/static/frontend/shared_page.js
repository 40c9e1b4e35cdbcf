/* The share page (/share/<token>): the conversation's messages come as JSON data in the page
 * (<script type="application/json" id="shared-messages">, see assistant/web/views.py shared_page)
 * and are drawn like the chat draws them: questions as text, answers with the chat's renderer
 * (markdown, math, code blocks with Copy and colours, citations), pictures and sources. */

import {
  codeImagesFigure,
  copyCodeOnClick,
  imageFigure,
  renderAnswer,
  sourcesPanel,
} from "./answer_render.js";
import { t } from "./i18n.js";
import { messageElement } from "./message_element.js";

const UNFINISHED = new Set(["cancelled", "error", "interrupted"]);

function messageItem(message) {
  const { item, body } = messageElement(message.role);
  item.setAttribute("data-status", message.status);
  if (message.role === "user") {
    body.textContent = message.content;
    return item;
  }
  fillAnswer(body, message);
  const extras = answerExtras(message);
  if (extras) item.appendChild(extras);
  return item;
}

function fillAnswer(body, message) {
  if (message.status === "blocked") {
    body.className = "content blocked";
    body.textContent = message.content;
    return;
  }
  body.className = "content markdown";
  renderAnswer(body, message.content, {
    sources: message.sources,
    invalidCitations: message.invalid_citations,
    final: true,
  });
  if (message.image) body.appendChild(imageFigure({ ...message.image, id: "shared" }));
  if (message.code_images.length) body.appendChild(codeImagesFigure(message.code_images));
}

/** The numbered sources and a note for an answer that did not run to its end, or null. */
function answerExtras(message) {
  const unfinished = UNFINISHED.has(message.status);
  if (!message.sources.length && !unfinished) return null;
  const extras = document.createElement("div");
  extras.className = "message-extras";
  if (message.sources.length) extras.appendChild(sourcesPanel(message.sources));
  if (unfinished) {
    const text = document.createElement("p");
    text.className = "message-note";
    text.textContent = t("shared_unfinished");
    extras.appendChild(text);
  }
  return extras;
}

const data = document.getElementById("shared-messages");
const list = document.getElementById("messages");
if (data && list) {
  JSON.parse(data.textContent).forEach((message) => list.appendChild(messageItem(message)));
  list.setAttribute("data-rendered", "true");
}
document.addEventListener("click", copyCodeOnClick);
