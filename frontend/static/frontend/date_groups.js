/* The sidebar's date groups (no DOM): a conversation belongs to the day of its latest activity,
 * counted in the browser's own time zone, as people remember it. */

export const GROUPS = ["today", "yesterday", "previous_7_days", "older"];
const DAY_MS = 86400000;

function localMidnight(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** Whole calendar days from `then` to `now` in local time (a day with a DST change is still one). */
function daysBetween(then, now) {
  return Math.round((localMidnight(now) - localMidnight(then)) / DAY_MS);
}

/** The group of a conversation last active at `updatedAt` (ISO 8601), seen at `now` (a Date). */
export function dateGroup(updatedAt, now) {
  const days = daysBetween(new Date(updatedAt), now);
  if (days <= 0) return "today"; // a clock a little behind the server's: still today
  if (days === 1) return "yesterday";
  if (days <= 7) return "previous_7_days";
  return "older";
}

/** [{group, items}] in GROUPS order, empty groups left out; each group keeps the given order. */
export function groupByDate(conversations, now) {
  const byGroup = new Map(GROUPS.map((group) => [group, []]));
  conversations.forEach((conversation) => byGroup.get(dateGroup(conversation.updated_at, now)).push(conversation));
  return GROUPS.filter((group) => byGroup.get(group).length).map((group) => ({ group, items: byGroup.get(group) }));
}
