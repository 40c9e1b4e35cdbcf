/* Message versions as data (docs/protocol.md, "Versions"): pure functions, no DOM.
 *
 * A message's versions are the ids the REST API lists in its `versions` field, oldest first, itself
 * included: the answers of one question (Regenerate), or the edits of one question. The thread shows
 * one version of each; the switcher "‹ 2/3 ›" picks another, which the server stores
 * (`select_version`), so a reload shows the same branch.
 */

/** id -> versions for a conversation's messages as the REST API gives them. */
export function versionsById(messages) {
  const versions = new Map();
  for (const message of messages) {
    if (Array.isArray(message.versions) && message.versions.length) versions.set(message.id, message.versions);
  }
  return versions;
}

/** The switcher of message `id`: {index, count, previous, next} (1-based index; previous and next
 * are the neighbouring versions' ids, null at either end), or null when it has a single version. */
export function switcher(versions, id) {
  if (!Array.isArray(versions) || versions.length < 2) return null;
  const at = versions.indexOf(id);
  if (at === -1) return null;
  return {
    index: at + 1,
    count: versions.length,
    previous: at > 0 ? versions[at - 1] : null,
    next: at < versions.length - 1 ? versions[at + 1] : null,
  };
}

export function selectVersionFrame(messageId) {
  return { type: "select_version", message_id: messageId };
}

/** The frame that sends `text` as a new version of the user message `messageId`. */
export function editFrame({ conversationId, messageId, text, clientId }) {
  return { type: "edit", conversation_id: conversationId, message_id: messageId, text: text.trim(), client_id: clientId };
}

/** An edit ends the branch at the edited message: the entries from it on leave the thread
 * (they stay stored, one switch away). Returns {kept, dropped}; everything is kept when the
 * message is not shown. */
export function cutBranch(entries, edited) {
  const at = entries.indexOf(edited);
  if (at === -1) return { kept: entries.slice(), dropped: [] };
  return { kept: entries.slice(0, at), dropped: entries.slice(at) };
}

/** Whether the edited text can be sent: something to say, within the limit, and not the same text. */
export function canSaveEdit(original, text, maxChars, count) {
  const trimmed = text.trim();
  return trimmed !== "" && count(trimmed) <= maxChars && trimmed !== original.trim();
}
