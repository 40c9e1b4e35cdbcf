/* Pure text helpers of the chat page (no DOM): counting, searching and sentence ends. */

const SENTENCE_END = /[.!?。！？।]["')\]]*(?=\s)|\n\n/g;

/** Characters as the server counts them: code points, so an emoji is one. */
export function charCount(text) {
  return Array.from(text).length;
}

/** Lower case without accents, so "cafe" finds "Café". */
export function foldForSearch(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLocaleLowerCase();
}

/** Every word of `query` occurs in `title`, ignoring case and accents. */
export function matchesEveryWord(title, query) {
  const folded = foldForSearch(title);
  return foldForSearch(query)
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => folded.includes(word));
}

/** Where the last whole sentence after `from` ends (`from` itself when none ends yet). */
export function lastSentenceEnd(text, from) {
  let end = from;
  for (const match of text.slice(from).matchAll(SENTENCE_END)) end = from + match.index + match[0].length;
  return end;
}

/** How many leading characters `a` and `b` share. */
export function sharedPrefixLength(a, b) {
  const limit = Math.min(a.length, b.length);
  let index = 0;
  while (index < limit && a[index] === b[index]) index += 1;
  return index;
}

/** Where the word that `index` falls in (or right after) starts. */
export function wordStart(text, index) {
  return index - text.slice(0, index).match(/\S*$/)[0].length;
}
