/* The element of one message in a list, the same in the chat's thread and on the share page. */

import { t } from "./i18n.js";

/** An <li> for a message of `role`, saying who wrote it to screen readers, around an empty bubble
 * and its body: {item, bubble, body}. */
export function messageElement(role) {
  const item = document.createElement("li");
  item.className = "message message-" + role;
  item.setAttribute("data-testid", "message");
  item.setAttribute("data-role", role);
  const who = document.createElement("span");
  who.className = "visually-hidden message-who";
  who.textContent = t(role === "user" ? "you_said" : "assistant_said");
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const body = document.createElement("div");
  body.className = role === "assistant" ? "content markdown" : "content";
  bubble.appendChild(body);
  item.append(who, bubble);
  return { item, bubble, body };
}
