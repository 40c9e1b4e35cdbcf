// The answer renderer (frontend/static/frontend/markdown.js) with the vendored markdown-it, plugins,
// KaTeX and DOMPurify: what each markdown feature renders to, what hostile text becomes, and the
// streaming renderer, whose output in any chunking must equal rendering the whole text at once.

import "./test_markdown_setup.mjs";

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { dom } from "./test_markdown_setup.mjs";
import { applyMathStyles, createMarkdownStream, renderMarkdown } from "../../frontend/static/frontend/markdown.js";

/** The HTML as a DOM fragment, to ask about elements rather than spelling. */
function parse(html) {
  const template = dom.window.document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

function all(html, selector) {
  return [...parse(html).querySelectorAll(selector)];
}

describe("markdown features", () => {
  test("a GFM table becomes a table with its header and cells", () => {
    const html = renderMarkdown("| name | value |\n|:-----|------:|\n| pi | 3.14 |\n| e | 2.72 |");
    assert.deepEqual(all(html, "th").map((cell) => cell.textContent), ["name", "value"]);
    assert.deepEqual(all(html, "tbody td").map((cell) => cell.textContent), ["pi", "3.14", "e", "2.72"]);
  });

  test("bare addresses become links that open safely", () => {
    const [link] = all(renderMarkdown("See https://example.com/a?b=1 for more."), "a");
    assert.equal(link.getAttribute("href"), "https://example.com/a?b=1");
    assert.equal(link.getAttribute("target"), "_blank");
    assert.equal(link.getAttribute("rel"), "noopener noreferrer nofollow");
  });

  test("~~text~~ is struck through", () => {
    assert.deepEqual(all(renderMarkdown("~~old~~ new"), "s").map((s) => s.textContent), ["old"]);
  });

  test("task lists show disabled checkboxes without ids", () => {
    const boxes = all(renderMarkdown("- [x] done\n- [ ] to do"), "input");
    assert.deepEqual(boxes.map((box) => [box.type, box.checked, box.disabled, box.id]), [
      ["checkbox", true, true, ""],
      ["checkbox", false, true, ""],
    ]);
  });

  test("headings go down to h6", () => {
    const html = renderMarkdown("#### four\n\n###### six");
    assert.equal(all(html, "h4")[0].textContent, "four");
    assert.equal(all(html, "h6")[0].textContent, "six");
  });

  test("footnotes link to their note, prefixed by the answer's id", () => {
    const html = renderMarkdown("Fact[^1].\n\n[^1]: The source.", { docId: "a7" });
    const [ref] = all(html, "sup a");
    const [note] = all(html, "section.footnotes li");
    assert.equal(ref.getAttribute("href"), "#fn-a7-1");
    assert.equal(note.id, "fn-a7-1");
    assert.match(note.textContent, /The source\./);
  });

  test("inline and display math are typeset by KaTeX, with MathML for screen readers", () => {
    const html = renderMarkdown("Energy $E=mc^2$ and\n\n$$\n\\frac{a}{b}\n$$\n\nand \\(x^2\\).");
    assert.equal(all(html, ".katex").length, 3);
    assert.equal(all(html, ".math-display .katex-display").length, 1);
    assert.deepEqual(all(html, "annotation").map((a) => a.textContent.trim()), ["E=mc^2", "\\frac{a}{b}", "x^2"]);
    assert.equal(all(html, "[style]").length, 0, "the CSP refuses style attributes");
    assert.ok(all(html, "[data-katex-style]").length > 0);
  });

  test("a dollar amount is not math", () => {
    assert.equal(all(renderMarkdown("It costs $5 and $10."), ".katex").length, 0);
  });

  test("a code fence keeps its language and its indentation", () => {
    const [code] = all(renderMarkdown("```python\ndef f():\n    if x:\n        return '<hi>'\n```"), "pre > code");
    assert.equal(code.className, "language-python");
    assert.equal(code.textContent, "def f():\n    if x:\n        return '<hi>'\n");
  });

  test("single newlines are line breaks, as people write in a chat", () => {
    assert.equal(all(renderMarkdown("one\ntwo"), "br").length, 1);
  });

  test("citations link to their source; a number without one is flagged", () => {
    const options = {
      sources: [{ number: 1, title: "One", url: "https://one.example/" }],
      invalidCitations: [2],
      invalidCitationTitle: (n) => `no source ${n}`,
    };
    const html = renderMarkdown("Claim [1], other [2], link [1](https://x.example/).", options);
    const [citation] = all(html, "a.citation");
    assert.equal(citation.getAttribute("href"), "https://one.example/");
    assert.equal(citation.textContent, "[1]");
    const [flagged] = all(html, ".citation-invalid");
    assert.equal(flagged.getAttribute("title"), "no source 2");
    assert.equal(all(html, "a").length, 2, "[1](url) stays an ordinary link");
  });

  test("a file source is cited by file and page, without a link", () => {
    const options = { sources: [{ number: 1, title: "report.pdf, p. 3", url: "" }], invalidCitations: [] };
    const html = renderMarkdown("The margin grew [1].", options);
    const [citation] = all(html, ".citation-file");
    assert.equal(citation.tagName, "SPAN");
    assert.equal(citation.getAttribute("title"), "report.pdf, p. 3");
    assert.equal(citation.textContent, "[1]");
    assert.equal(all(html, "a").length + all(html, ".citation-invalid").length, 0);
  });

  test("without search, [1] is text", () => {
    assert.equal(all(renderMarkdown("See [1]."), "a").length, 0);
  });
});

describe("hostile text stays text", () => {
  const hostile = [
    "<img src=x onerror=\"globalThis.pwned=1\">",
    "<script>globalThis.pwned=1</script>",
    "[click](javascript:globalThis.pwned=1)",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](https://example.com\" onmouseover=\"globalThis.pwned=1)",
    "![pixel](https://tracker.example/p.png)",
    "```\n</code></pre><script>globalThis.pwned=1</script>\n```",
    "<svg onload=alert(1)>",
    "$\\href{javascript:alert(1)}{x}$",
    "$\\htmlStyle{background:url(https://x.example/)}{x}$",
    "| a |\n|---|\n| <iframe src=\"https://x.example\"></iframe> |",
    "- [x] <input type=text autofocus onfocus=alert(1)>",
    "Footnote[^x]\n\n[^x]: <a href=javascript:alert(1)>x</a>",
  ];
  for (const text of hostile) {
    test(JSON.stringify(text).slice(0, 60), () => {
      const html = renderMarkdown(text);
      const elements = all(html, "*");
      assert.deepEqual(all(html, "script, img, iframe, object, embed, form, style").length, 0);
      assert.equal(elements.filter((el) => el.tagName === "svg" && !el.closest(".katex")).length, 0);
      const handlers = elements.flatMap((el) => [...el.attributes].filter((a) => a.name.startsWith("on")));
      assert.deepEqual(handlers, []);
      for (const link of all(html, "a[href]")) assert.match(link.getAttribute("href"), /^(https?:\/\/|#fn)/);
      assert.deepEqual(all(html, "input:not([type=checkbox])").length, 0);
      assert.equal(globalThis.pwned, undefined);
    });
  }
});

describe("math styles", () => {
  test("KaTeX's box styles are set through the CSSOM; other properties are not", () => {
    const root = parse(
      '<span data-katex-style="height:1.2em;vertical-align:-0.25em;"></span>' +
        '<span data-katex-style="background:url(https://x.example/);top:-1em;position:relative"></span>' +
        '<span data-katex-style="color:expression(alert(1))"></span>'
    );
    const holder = dom.window.document.createElement("div");
    holder.append(root);
    applyMathStyles(holder);
    const [first, second, third] = holder.children;
    assert.equal(first.style.height, "1.2em");
    assert.equal(first.style.verticalAlign, "-0.25em");
    assert.equal(second.style.background, "");
    assert.equal(second.style.top, "-1em");
    assert.equal(third.style.color, "");
    assert.equal(holder.querySelectorAll("[data-katex-style]").length, 0);
  });
});

// --- streaming ------------------------------------------------------------------------------

const ANSWER = [
  "# Plan",
  "",
  "First we look at the numbers,",
  "then at the *outliers*.",
  "",
  "| step | cost |",
  "|------|-----:|",
  "| read | $5 |",
  "| fit | ~~$9~~ $7 |",
  "",
  "1. one",
  "",
  "2. two",
  "   still two",
  "",
  "- [x] done",
  "- [ ] open",
  "",
  "Setext heading",
  "---",
  "",
  "The model is $y = ax + b$, with",
  "",
  "$$",
  "\\hat{a} = \\frac{\\sum x_i y_i}{\\sum x_i^2}",
  "$$",
  "",
  "```python",
  "def fit(xs, ys):",
  "",
  "    return sum(x * y for x, y in zip(xs, ys))",
  "```",
  "",
  "> a quote",
  "lazily continued",
  "",
  "\\[",
  "e^{i\\pi} + 1 = 0",
  "",
  "\\]",
  "",
  "    indented code",
  "",
  "    more of it",
  "",
  "See https://example.com and [1].",
  "#",
  "para",
  "## End",
].join("\n");

const WITH_DEFINITIONS =
  "Read [the docs][d] and a note[^n].\n\nMore text.\n\n[d]: https://docs.example/\n\n[^n]: The note.\n\nLast.";

/** Streams `text` in pieces of the given sizes; returns the shown HTML and every update's result. */
function stream(text, sizes, options) {
  const renderer = createMarkdownStream();
  const updates = [];
  let settled = "";
  let tail = "";
  let end = 0;
  for (let i = 0; end < text.length; i++) {
    end = Math.min(text.length, end + sizes[i % sizes.length]);
    const update = renderer.update(text.slice(0, end), options);
    if (update.reset) settled = "";
    settled += update.settled;
    tail = update.tail;
    updates.push({ ...update, length: end });
  }
  return { shown: settled + tail, updates };
}

/** A repeatable sequence of chunk sizes from 1 to `max` (a linear congruential generator). */
function randomSizes(seed, count, max) {
  const sizes = [];
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    sizes.push(1 + (state % max));
  }
  return sizes;
}

describe("streaming", () => {
  const citations = { sources: [{ number: 1, title: "One", url: "https://one.example/" }], docId: "a1" };
  const chunkings = {
    "one character at a time": [1],
    "two characters": [2],
    "frames of 7": [7],
    "a line at a time": null,
    "random sizes (seed 1)": randomSizes(1, 500, 12),
    "random sizes (seed 2)": randomSizes(2, 500, 40),
    "all at once": [1e6],
  };
  for (const [name, sizes] of Object.entries(chunkings)) {
    for (const [label, text] of [["an answer", ANSWER], ["definitions", WITH_DEFINITIONS]]) {
      test(`${label}, ${name}, equals rendering the whole text`, () => {
        const lines = text.split(/(?<=\n)/).map((line) => line.length);
        const { shown } = stream(text, sizes || lines, citations);
        assert.equal(shown, renderMarkdown(text, citations));
      });
    }
  }

  test("around every line break, the answer so far shows what rendering it whole shows", () => {
    const renderer = createMarkdownStream();
    let settled = "";
    for (let end = 1; end <= ANSWER.length; end++) {
      if (!ANSWER.slice(end - 3, end + 1).includes("\n")) continue; // the moments blocks settle
      const update = renderer.update(ANSWER.slice(0, end), citations);
      if (update.reset) settled = "";
      settled += update.settled;
      assert.equal(settled + update.tail, renderMarkdown(ANSWER.slice(0, end), citations), `at ${end}`);
    }
  });

  test("finished blocks are rendered once and not parsed again", () => {
    const paragraphs = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} with **some** words.`);
    const text = paragraphs.join("\n\n");
    const { updates } = stream(text, [1]);
    assert.equal(updates.filter((update) => update.reset).length, 1, "only the first update starts afresh");
    const settledHtml = updates.map((update) => update.settled).join("");
    for (let i = 0; i < 39 - 1; i++) {
      // Paragraphs 38 and 39 stay in the tail: 39 has no complete line yet, so 38 may still change.
      assert.equal(settledHtml.split(`Paragraph ${i} `).length - 1, 1, `paragraph ${i} settled once`);
    }
    // Each update parses at most the paragraph that waits for the next line and the one being written.
    const longest = Math.max(...paragraphs.map((paragraph) => paragraph.length + 2));
    for (const update of updates) {
      assert.ok(update.parsed <= 2 * longest, `parsed ${update.parsed} of ${update.length}`);
    }
  });

  test("a definition arriving later re-renders the text it changes", () => {
    const renderer = createMarkdownStream();
    const before = "Read [the docs][d].\n\nMore.\n\n";
    const first = renderer.update(before + "x");
    assert.equal(all(first.settled + first.tail, "a").length, 0);
    const later = renderer.update(before + "[d]: https://docs.example/\n");
    assert.equal(later.reset, true);
    assert.equal(all(later.settled + later.tail, "a")[0].getAttribute("href"), "https://docs.example/");
  });

  test("sources arriving mid-answer re-render the citations already shown", () => {
    const renderer = createMarkdownStream();
    renderer.update("Fact [1].\n\nMore ");
    const update = renderer.update("Fact [1].\n\nMore words", citations);
    assert.equal(update.reset, true);
    assert.equal(all(update.settled + update.tail, "a.citation").length, 1);
  });

  test("text that does not continue the previous text starts afresh", () => {
    const renderer = createMarkdownStream();
    renderer.update("First answer.\n\nSecond paragraph.\n\nThird");
    const update = renderer.update("Another answer");
    assert.equal(update.reset, true);
    assert.equal(update.settled + update.tail, renderMarkdown("Another answer"));
  });
});
