// The chat page's pure text helpers (frontend/static/frontend/text.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  charCount,
  foldForSearch,
  lastSentenceEnd,
  matchesEveryWord,
  sharedPrefixLength,
  wordStart,
} from "../../frontend/static/frontend/text.js";

test("characters are counted as code points, as the server counts them", () => {
  assert.equal(charCount("abc"), 3);
  assert.equal(charCount("🌊🌊"), 2);
  assert.equal("🌊🌊".length, 4);
});

test("search ignores case and accents and needs every word", () => {
  assert.equal(foldForSearch("Café Crème"), "cafe creme");
  assert.equal(matchesEveryWord("Café recipes", "cafe"), true);
  assert.equal(matchesEveryWord("Trip to Lisbon", "lisbon TRIP"), true);
  assert.equal(matchesEveryWord("Trip to Lisbon", "lisbon porto"), false);
  assert.equal(matchesEveryWord("Anything", "   "), true);
});

test("sentences end at their punctuation followed by a space, or at a blank line", () => {
  const text = "It rains. Clouds gather! Still";
  assert.equal(lastSentenceEnd(text, 0), "It rains. Clouds gather!".length);
  assert.equal(lastSentenceEnd(text, "It rains.".length), "It rains. Clouds gather!".length);
  assert.equal(lastSentenceEnd("No end yet.", 0), 0, "the last sentence may still grow");
  assert.equal(lastSentenceEnd("A list\n\nmore", 0), "A list\n\n".length);
  assert.equal(lastSentenceEnd('He said "stop." Then', 0), 'He said "stop."'.length);
  assert.equal(lastSentenceEnd("वर्षा हो रही है। फिर", 0), "वर्षा हो रही है।".length);
});

test("the text read out and the text shown agree up to where a re-render changed it", () => {
  assert.equal(sharedPrefixLength("Rain falls.", "Rain falls. Then"), 11);
  assert.equal(sharedPrefixLength("Count to 3.", "Count to\n"), 8); // "3." became a list's number
  assert.equal(sharedPrefixLength("", "anything"), 0);
  assert.equal(sharedPrefixLength("same", "same"), 4);
});

test("a re-read starts at the beginning of the word that changed", () => {
  assert.equal(wordStart("on animals.", 10), 3);
  assert.equal(wordStart("on animals.", 3), 3);
  assert.equal(wordStart("word", 0), 0);
});
