// The sidebar's date groups (frontend/static/frontend/date_groups.js), in the local time zone.

import assert from "node:assert/strict";
import { test } from "node:test";

import { dateGroup, groupByDate } from "../../frontend/static/frontend/date_groups.js";

const now = new Date(2026, 11, 2, 9, 30); // 2 December 2026, 09:30 local time

function daysAgo(days, hour = 12) {
  return new Date(2026, 11, 2 - days, hour).toISOString();
}

test("a conversation falls on the calendar day of its latest activity, not 24-hour spans", () => {
  assert.equal(dateGroup(new Date(2026, 11, 2, 0, 5).toISOString(), now), "today");
  assert.equal(dateGroup(new Date(2026, 11, 1, 23, 55).toISOString(), now), "yesterday");
  assert.equal(dateGroup(daysAgo(2), now), "previous_7_days");
  assert.equal(dateGroup(daysAgo(7), now), "previous_7_days");
  assert.equal(dateGroup(daysAgo(8), now), "older");
});

test("a time a little ahead of the browser's clock is still today", () => {
  assert.equal(dateGroup(new Date(2026, 11, 2, 9, 31).toISOString(), now), "today");
});

test("groups come newest first, without empty ones, each in the list's own order", () => {
  const conversations = [
    { id: 1, updated_at: daysAgo(0) },
    { id: 2, updated_at: daysAgo(30) },
    { id: 3, updated_at: daysAgo(0, 8) },
    { id: 4, updated_at: daysAgo(3) },
  ];
  const groups = groupByDate(conversations, now);
  assert.deepEqual(
    groups.map(({ group, items }) => [group, items.map((c) => c.id)]),
    [
      ["today", [1, 3]],
      ["previous_7_days", [4]],
      ["older", [2]],
    ]
  );
});
