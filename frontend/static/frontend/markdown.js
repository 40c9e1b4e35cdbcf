/* Markdown of assistant answers: markdown-it with GFM tables, strikethrough and autolinks, footnotes,
 * task lists and TeX math (KaTeX), every result sanitised by DOMPurify; and a streaming renderer that
 * parses only the unfinished end of an answer at each frame.
 *
 * Safety: markdown-it runs with `html: false`, so HTML in the text is shown as text; link targets
 * must be http(s) or mailto and open in a new tab without an opener; images are not rendered (a
 * picture from any address would let an answer call out); KaTeX runs untrusted (no \href, \url,
 * \html…). DOMPurify then keeps only the tags and attributes listed below. The CSP refuses style
 * attributes, and KaTeX positions its boxes with them: they travel as data-katex-style and
 * applyMathStyles() sets the listed properties through the CSSOM once the nodes are in a page.
 *
 * Citations: in an answer grounded by web search, [n] links to source n; a number with no source
 * is shown as text and flagged (docs/protocol.md, `done.invalid_citations`).
 *
 * Streaming (createMarkdownStream): an answer grows at its end, and a block followed by a blank
 * line and a complete line can no longer change, so those blocks are rendered once and kept; each
 * frame parses only the text after them. Exception: link reference and footnote definitions change
 * how text before them renders, so an answer that has one is rendered whole at each frame.
 *
 * The libraries come from static/frontend/vendor/ (frontend/vendor.mjs); markdown-it and KaTeX as
 * UMD builds that define window.markdownit and window.katex when imported. DOMPurify is a classic
 * script of the page (window.DOMPurify).
 */
import "./vendor/markdown-it.min.js";
import "./vendor/katex.min.js";
import footnote from "./vendor/markdown-it-footnote.js";
import { tasklist } from "./vendor/mdit-tasklist.js";
import { tex } from "./vendor/mdit-tex.js";

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
const HTTP_URL = /^https?:\/\//i;
const CITATION = /^\[(\d{1,3})\](?!\()/;
const KATEX_OPTIONS = { throwOnError: false, output: "htmlAndMathml", strict: "ignore", trust: false, maxExpand: 500 };
// Only the box geometry and colour KaTeX writes; never anything that loads a URL.
const MATH_STYLE_PROPERTIES = new Set([
  "border-bottom-width", "border-right-style", "border-right-width", "border-top-width", "bottom", "color",
  "height", "left", "margin-left", "margin-right", "min-width", "padding-left", "position", "top",
  "vertical-align", "width",
]);
const HTML_TAGS = [
  "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "input",
  "li", "ol", "p", "pre", "s", "section", "span", "strong", "sup", "table", "tbody", "td", "th", "thead",
  "tr", "ul",
];
const MATH_TAGS = [
  "annotation", "math", "menclose", "mfrac", "mi", "mn", "mo", "mover", "mpadded", "mphantom", "mroot",
  "mrow", "ms", "mspace", "msqrt", "mstyle", "msub", "msubsup", "msup", "mtable", "mtd", "mtext", "mtr",
  "munder", "munderover", "semantics", "svg", "path", "line",
];
const SANITIZER_CONFIG = {
  ALLOWED_TAGS: [...HTML_TAGS, ...MATH_TAGS],
  // DOMPurify's own URI rule stays (it refuses javascript: and the like); data-* attributes are kept
  // (data-citation, data-katex-style). `style` is not allowed: the CSP would refuse it anyway.
  ALLOWED_ATTR: [
    "accent", "accentunder", "aria-hidden", "checked", "class", "columnalign", "columnspacing", "d",
    "disabled", "display", "encoding", "fence", "height", "href", "id", "linethickness", "lspace",
    "mathvariant", "minsize", "maxsize", "notation", "preserveaspectratio", "rel", "rowspacing", "rspace",
    "mathbackground", "mathcolor", "scriptlevel", "displaystyle", "separator", "start", "stretchy", "stroke-width",
    "target", "title", "voffset",
    "type", "viewbox", "width", "x1", "x2", "xmlns", "y1", "y2",
  ],
};

let warnedNoSanitizer = false;
const parser = createParser();

function createParser() {
  const md = globalThis.markdownit({ html: false, linkify: true, breaks: true, typographer: false });
  md.disable("image");
  md.validateLink = (url) => SAFE_LINK.test(url.trim());
  md.use(footnote);
  md.use(tasklist, { disabled: true, label: false });
  md.use(tex, { delimiters: "all", mathFence: true, render: renderTex });
  md.inline.ruler.before("link", "citation", citationRule);
  md.renderer.rules.citation = (tokens, index, options, env) => citationHtml(tokens[index].meta.number, env.citations);
  // The plugin numbers checkbox ids per parse: the same id in every answer, and another when streamed.
  md.renderer.rules.checkbox_input = (tokens, index, options, env, self) => {
    tokens[index].attrs = tokens[index].attrs.filter(([name]) => name !== "id");
    return self.renderToken(tokens, index, options);
  };
  md.renderer.rules.link_open = (tokens, index, options, env, self) => {
    tokens[index].attrSet("target", "_blank");
    tokens[index].attrSet("rel", "noopener noreferrer nofollow");
    return self.renderToken(tokens, index, options);
  };
  return md;
}

function renderTex(source, displayMode) {
  const html = globalThis.katex
    .renderToString(source, { ...KATEX_OPTIONS, displayMode })
    .replace(/ style="/g, ' data-katex-style="'); // KaTeX escapes attribute values: no other match
  return displayMode ? '<div class="math-display">' + html + "</div>\n" : html;
}

// --- citations ----------------------------------------------------------------------------

function citationRule(state, silent) {
  if (!state.env.citations || state.src.charCodeAt(state.pos) !== 0x5b /* [ */) return false;
  const match = CITATION.exec(state.src.slice(state.pos, state.pos + 6));
  if (!match) return false;
  if (!silent) state.push("citation", "", 0).meta = { number: Number(match[1]) };
  state.pos += match[0].length;
  return true;
}

/** [n] as a link to web source n, as a named mark for file source n ("report.pdf, p. 3": no
 * address), or flagged text when the answer has no source n. */
function citationHtml(number, citations) {
  const escape = parser.utils.escapeHtml;
  const source = citations.sources.get(number);
  if (source && HTTP_URL.test(source.url) && !citations.invalid.has(number)) {
    return (
      '<a class="citation" data-citation="' + number + '" href="' + escape(source.url) + '" title="' +
      escape(source.title || source.url) + '" rel="noopener noreferrer nofollow" target="_blank">[' + number + "]</a>"
    );
  }
  if (source && !source.url && !citations.invalid.has(number)) {
    const named = ' title="' + escape(source.title) + '">[' + number + "]</span>";
    return '<span class="citation citation-file" data-citation="' + number + '"' + named;
  }
  const title = citations.invalidTitle ? ' title="' + escape(citations.invalidTitle(number)) + '"' : "";
  return '<span class="citation-invalid" data-citation="' + number + '"' + title + ">[" + number + "]</span>";
}

/** What citation rendering needs, or null when the answer used no search (then [n] is text). */
function citationContext(options) {
  const sources = (options && options.sources) || [];
  const invalid = (options && options.invalidCitations) || [];
  if (!sources.length && !invalid.length) return null;
  const byNumber = new Map(sources.map((source) => [Number(source.number), source]));
  return { sources: byNumber, invalid: new Set(invalid.map(Number)), invalidTitle: options.invalidCitationTitle };
}

/** The parse environment of one answer: citations and the footnote ids' prefix (unique per page). */
function environment(options) {
  const env = { citations: citationContext(options) };
  if (options && options.docId) env.docId = options.docId;
  return env;
}

function sanitize(html) {
  const purifier = globalThis.DOMPurify;
  if (purifier && purifier.isSupported) return purifier.sanitize(html, SANITIZER_CONFIG);
  if (!warnedNoSanitizer) {
    warnedNoSanitizer = true;
    globalThis.console.warn("DOMPurify is missing (run `node frontend/vendor.mjs`): markdown-it's escaping only.");
  }
  return html;
}

function cleanSource(text) {
  return text === null || text === undefined ? "" : String(text).replace(/\u0000/g, "").replace(/\r\n?/g, "\n");
}

/**
 * The whole text as sanitised HTML.
 * options: {sources: [{number, title, url}], invalidCitations: [n], invalidCitationTitle: (n) -> string,
 *           docId: prefix of footnote ids}
 */
export function renderMarkdown(text, options) {
  return sanitize(parser.render(cleanSource(text), environment(options)));
}

// --- streaming ------------------------------------------------------------------------------

/** The top-level blocks of a token list: [{start: token index, lines: [first, end)}]. */
function topLevelBlocks(tokens) {
  const blocks = [];
  tokens.forEach((token, index) => {
    if (token.level === 0 && token.nesting !== -1 && token.map) blocks.push({ start: index, lines: token.map });
  });
  return blocks;
}

/** A paragraph that opens with \[ may still become a display formula when its \] comes. */
function mayBecomeMath(tokens, block) {
  const inline = tokens[block.start + 1];
  return tokens[block.start].type === "paragraph_open" && /^\s*\\\[/.test(inline.content);
}

/** How many leading blocks can no longer change: each is followed by a blank line and then by a
 * block whose first line is complete (a line is settled once the next one has begun). */
function settledBlockCount(tokens, blocks, completeLines) {
  let settled = 0;
  for (let i = 0; i + 1 < blocks.length; i++) {
    if (mayBecomeMath(tokens, blocks[i])) break;
    const next = blocks[i + 1];
    if (next.lines[0] >= completeLines) break;
    if (blocks[i].lines[1] < next.lines[0]) settled = i + 1;
  }
  return settled;
}

function hasDefinitions(env) {
  return (env.references !== undefined && Object.keys(env.references).length > 0) || env.footnotes !== undefined;
}

function offsetOfLine(text, line) {
  let offset = 0;
  for (let i = 0; i < line; i++) offset = text.indexOf("\n", offset) + 1;
  return offset;
}

function renderTokens(tokens, env) {
  return sanitize(parser.renderer.render(tokens, parser.options, env));
}

/** What the rendering of a text depends on besides the text. */
function optionsKey(options) {
  const { sources, invalidCitations, docId } = options || {};
  return JSON.stringify([sources, invalidCitations, docId]);
}

/**
 * A renderer for one answer that grows at its end. update(text, options) returns
 * {reset, settled, tail, parsed}: `reset` true when everything shown before must go (the text is not
 * a continuation, the options changed, or the answer has a definition), `settled` the HTML of blocks
 * this text finished (shown before the tail and never rendered again), `tail` the HTML of the rest
 * (it replaces the previous tail), `parsed` the number of characters parsed for this update.
 */
export function createMarkdownStream() {
  let text = null;
  let shownFor = null; // the options the shown HTML was rendered with
  let cut = 0; // where the unfinished part of `text` begins
  let whole = false; // the answer has a definition: it is rendered whole each time

  function update(rawText, options) {
    const source = cleanSource(rawText);
    const key = optionsKey(options);
    let reset = text === null || whole || key !== shownFor || !source.startsWith(text);
    if (reset) cut = 0;
    text = source;
    shownFor = key;
    let env = environment(options);
    let rest = source.slice(cut);
    let tokens = parser.parse(rest, env);
    let parsed = rest.length;
    whole = hasDefinitions(env);
    if (whole && cut > 0) {
      // A definition changes how text before it renders, settled text included: all of it again.
      reset = true;
      cut = 0;
      rest = source;
      env = environment(options);
      tokens = parser.parse(source, env);
      parsed += source.length;
    }
    const blocks = topLevelBlocks(tokens);
    const settled = whole ? 0 : settledBlockCount(tokens, blocks, rest.split("\n").length - 1);
    if (settled === 0) return { reset, settled: "", tail: renderTokens(tokens, env), parsed };
    const split = blocks[settled].start;
    cut += offsetOfLine(rest, blocks[settled].lines[0]);
    return {
      reset,
      settled: renderTokens(tokens.slice(0, split), env),
      tail: renderTokens(tokens.slice(split), env),
      parsed,
    };
  }

  return { update };
}

// --- math in the page ---------------------------------------------------------------------

/** Sets KaTeX's box styles (carried as data-katex-style) through the CSSOM, which the CSP allows. */
export function applyMathStyles(root) {
  root.querySelectorAll("[data-katex-style]").forEach((element) => {
    for (const declaration of element.getAttribute("data-katex-style").split(";")) {
      const colon = declaration.indexOf(":");
      const property = declaration.slice(0, colon).trim().toLowerCase();
      const value = declaration.slice(colon + 1).trim();
      if (colon > 0 && MATH_STYLE_PROPERTIES.has(property) && !/[()\\]/.test(value)) {
        element.style.setProperty(property, value);
      }
    }
    element.removeAttribute("data-katex-style");
  });
}

globalThis.renderMarkdown = renderMarkdown; // for the browser tests, which render text directly
