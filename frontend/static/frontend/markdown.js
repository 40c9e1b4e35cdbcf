/* A small, escape-first markdown renderer for assistant answers.
 *
 * Safety model: the whole input is HTML-escaped before any markdown rule runs, so every
 * character of the input reaches the output as text. The only tags in the output are the
 * ones this file writes, and the only attribute values taken from the input are link
 * targets (already escaped, so quotes cannot end the attribute) that must start with
 * http:// or https://, and code languages restricted to [a-z0-9+-].
 *
 * Supported: fenced code blocks (an unclosed fence renders as code, for streaming),
 * inline `code`, **bold**, __bold__, *italic*, _italic_, headings # to ###, unordered and
 * ordered lists, > quotes, --- rules, [text](http…) links, paragraphs and line breaks, and
 * citations: [n] links to source n of a search-grounded answer; a number with no source is
 * shown as text and flagged.
 *
 * Defence in depth: the finished HTML also passes through DOMPurify (vendor/purify.min.js),
 * allowing only the tags and attributes written here. Without DOMPurify (vendor files not
 * built) the escape-first output is used alone and a warning is logged once.
 *
 * A module; it exports (and also sets as window.renderMarkdown)
 *   renderMarkdown(text, {sources: [{number, title, url}], invalidCitations: [n],
 *                         invalidCitationTitle: (n) -> string}) -> HTML string.
 */
// Placeholders for finished inline HTML fragments. NUL is removed from the input first,
// so the input can never forge one.
var MARK = "\u0000";

function escapeHtml(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

var FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
var HEADING = /^ {0,3}(#{1,3})[ \t]+(.*?)[ \t]*#*[ \t]*$/;
var RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
var UNORDERED = /^[ \t]*[-*+][ \t]+(.*)$/;
var ORDERED = /^[ \t]*(\d{1,9})[.)][ \t]+(.*)$/;
var QUOTE = /^ {0,3}&gt;[ \t]?(.*)$/;
var LANGUAGE = /^[a-z0-9+-]+$/;
var HTTP_URL = /^https?:\/\//i;
var SANITIZER_CONFIG = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "hr", "li", "ol", "p", "pre", "span", "strong", "ul",
  ],
  // DOMPurify's own URI rule stays (it refuses javascript: and the like); links written here are
  // http(s) only. A custom ALLOWED_URI_REGEXP would also apply to rel and target and drop them.
  ALLOWED_ATTR: ["class", "data-citation", "href", "rel", "start", "target", "title"],
};
var warnedNoSanitizer = false;

// --- inline rules (input is already escaped) ------------------------------------------

function renderInline(escaped, citations) {
  var stash = [];
  function keep(html) {
    stash.push(html);
    return MARK + (stash.length - 1) + MARK;
  }

  // Code spans first: their content is shown as is, no emphasis or links inside.
  var out = escaped.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, function (_, ticks, code) {
    return keep("<code>" + code.trim() + "</code>");
  });

  // Links: only absolute http(s) targets. The target is escaped text without whitespace,
  // so it cannot close the attribute or add another one.
  out = out.replace(/\[([^\]\n]+)\]\(([^()\s]+)\)/g, function (whole, label, href) {
    if (!HTTP_URL.test(href)) return whole;
    return keep(
      '<a href="' + href + '" rel="noopener noreferrer nofollow" target="_blank">' + emphasis(label) + "</a>"
    );
  });

  if (citations) {
    out = out.replace(/\[(\d{1,3})\](?!\()/g, function (whole, number) {
      return keep(citation(Number(number), citations));
    });
  }

  out = emphasis(out);
  return out.replace(new RegExp(MARK + "(\\d+)" + MARK, "g"), function (_, index) {
    return stash[Number(index)];
  });
}

function emphasis(text) {
  return text
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/(^|[^*\w])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>");
}

/** [n] as a link to source n, or flagged text when the answer has no source n. */
function citation(number, citations) {
  var source = citations.sources.get(number);
  if (source && HTTP_URL.test(source.url) && !citations.invalid.has(number)) {
    return (
      '<a class="citation" data-citation="' + number + '" href="' + escapeHtml(source.url) + '" title="' +
      escapeHtml(source.title || source.url) + '" rel="noopener noreferrer nofollow" target="_blank">[' + number + "]</a>"
    );
  }
  var title = citations.invalidTitle ? ' title="' + escapeHtml(citations.invalidTitle(number)) + '"' : "";
  return '<span class="citation-invalid" data-citation="' + number + '"' + title + ">[" + number + "]</span>";
}

/** What citation rendering needs, or null when the answer used no search (then [n] is text). */
function citationContext(options) {
  var sources = (options && options.sources) || [];
  var invalid = (options && options.invalidCitations) || [];
  if (!sources.length && !invalid.length) return null;
  var byNumber = new Map();
  sources.forEach(function (source) {
    byNumber.set(Number(source.number), source);
  });
  return { sources: byNumber, invalid: new Set(invalid.map(Number)), invalidTitle: options.invalidCitationTitle };
}

function sanitize(html) {
  if (window.DOMPurify && window.DOMPurify.isSupported) return window.DOMPurify.sanitize(html, SANITIZER_CONFIG);
  if (!warnedNoSanitizer) {
    warnedNoSanitizer = true;
    window.console.warn("DOMPurify is missing (run `node frontend/vendor.mjs`): escape-first rendering only.");
  }
  return html;
}

// --- blocks ---------------------------------------------------------------------------

export function renderMarkdown(text, options) {
  if (text === null || text === undefined) return "";
  var citations = citationContext(options);
  var inline = function (line) {
    return renderInline(line, citations);
  };
  var source = String(text).replace(/\u0000/g, "").replace(/\r\n?/g, "\n");
  var lines = escapeHtml(source).split("\n");
  var html = [];
  var paragraph = [];
  var list = null; // {tag: "ul"|"ol", items: [...], start: n}
  var quote = [];

  function flushParagraph() {
    if (paragraph.length) {
      html.push("<p>" + paragraph.map(inline).join("<br>") + "</p>");
      paragraph = [];
    }
  }
  function flushList() {
    if (list) {
      var start = list.tag === "ol" && list.start !== 1 ? ' start="' + list.start + '"' : "";
      html.push(
        "<" + list.tag + start + ">" +
          list.items.map(function (item) { return "<li>" + inline(item) + "</li>"; }).join("") +
          "</" + list.tag + ">"
      );
      list = null;
    }
  }
  function flushQuote() {
    if (quote.length) {
      html.push("<blockquote><p>" + quote.map(inline).join("<br>") + "</p></blockquote>");
      quote = [];
    }
  }
  function flushAll() {
    flushParagraph();
    flushList();
    flushQuote();
  }

  for (var i = 0; i < lines.length; i++) {
    var line = lines[i];
    var match;

    if ((match = FENCE_OPEN.exec(line))) {
      flushAll();
      var fence = match[1];
      var language = match[2].toLowerCase();
      var code = [];
      var closing = new RegExp("^ {0,3}" + fence.charAt(0) + "{" + fence.length + ",}\\s*$");
      i++;
      while (i < lines.length && !closing.test(lines[i])) {
        code.push(lines[i]);
        i++;
      }
      // A fence still open at the end (an answer mid-stream) is a code block up to here.
      var attribute = LANGUAGE.test(language) ? ' class="language-' + language + '"' : "";
      html.push("<pre><code" + attribute + ">" + code.join("\n") + "</code></pre>");
      continue;
    }

    if (/^\s*$/.test(line)) {
      flushAll();
      continue;
    }

    if ((match = HEADING.exec(line))) {
      flushAll();
      var level = match[1].length;
      html.push("<h" + level + ">" + inline(match[2]) + "</h" + level + ">");
      continue;
    }

    if (RULE.test(line)) {
      flushAll();
      html.push("<hr>");
      continue;
    }

    if ((match = QUOTE.exec(line))) {
      flushParagraph();
      flushList();
      quote.push(match[1]);
      continue;
    }

    var unordered = UNORDERED.exec(line);
    var ordered = unordered ? null : ORDERED.exec(line);
    if (unordered || ordered) {
      flushParagraph();
      flushQuote();
      var tag = unordered ? "ul" : "ol";
      if (!list || list.tag !== tag) {
        flushList();
        list = { tag: tag, items: [], start: ordered ? parseInt(ordered[1], 10) : 1 };
      }
      list.items.push(unordered ? unordered[1] : ordered[2]);
      continue;
    }

    if (list && /^[ \t]{2,}\S/.test(line)) {
      // An indented line continues the previous list item.
      list.items[list.items.length - 1] += " " + line.trim();
      continue;
    }

    flushList();
    flushQuote();
    paragraph.push(line);
  }
  flushAll();
  return sanitize(html.join("\n"));
}

window.renderMarkdown = renderMarkdown; // for the browser tests, which render text directly
