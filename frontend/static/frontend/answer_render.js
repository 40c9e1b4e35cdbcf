/* The parts of an answer bubble: its text (sanitised markdown, citations, math, code blocks with
 * copy buttons and syntax colours), the picture of an /imagine answer, search progress, the numbered
 * sources and Code Shield's warnings. highlight.js (window.hljs) is a classic script loaded first.
 *
 * Streamed text is drawn incrementally (markdown.js, createMarkdownStream): blocks the answer has
 * finished are inserted once and kept, so their nodes (a selection in them, a code block's colours)
 * survive the frames that follow; only the unfinished end is replaced. */

import { t } from "./i18n.js";
import { icon } from "./icons.js";
import { applyMathStyles, createMarkdownStream } from "./markdown.js";

const COPIED_RESET_MS = 2000;
const MATH_STYLESHEET = new URL("./vendor/katex.min.css", import.meta.url).href;
const views = new WeakMap(); // container -> {stream, docId, settled: Set of nodes it keeps}
let answersDrawn = 0;

function viewOf(container) {
  let view = views.get(container);
  if (!view) {
    answersDrawn += 1;
    view = { stream: createMarkdownStream(), docId: "a" + answersDrawn, settled: new Set() };
    views.set(container, view);
  }
  return view;
}

/** Answer text into `container`: sanitised markdown, citations, math, code blocks with copy buttons
 * and syntax colours (on finished blocks, and on the rest once `options.final`). Nodes others added
 * after the text (an answer's picture) are removed: the caller adds them again. */
export function renderAnswer(container, text, options) {
  const view = viewOf(container);
  const markdownOptions = {
    sources: options.sources || [],
    invalidCitations: options.invalidCitations || [],
    invalidCitationTitle: (number) => t("invalid_citation", { number }),
    docId: view.docId,
  };
  if ([...view.settled].some((node) => node.parentNode !== container)) view.stream = createMarkdownStream();
  const drawn = view.stream.update(text, markdownOptions);
  if (drawn.reset) view.settled.clear();
  [...container.childNodes].forEach((node) => view.settled.has(node) || node.remove());
  insertHtml(container, drawn.settled, true).forEach((node) => view.settled.add(node));
  insertHtml(container, drawn.tail, !!options.final);
}

/** Appends sanitised HTML; returns the nodes it added. */
function insertHtml(container, html, final) {
  if (!html) return [];
  const template = document.createElement("template");
  template.innerHTML = html;
  decorateCodeBlocks(template.content, final);
  const nodes = [...template.content.childNodes];
  container.append(template.content);
  nodes.forEach((node) => node.nodeType === Node.ELEMENT_NODE && applyMathStyles(node));
  if (nodes.some((node) => node.nodeType === Node.ELEMENT_NODE && node.querySelector(".katex"))) loadMathStylesheet();
  return nodes;
}

/** KaTeX's stylesheet (and through it its fonts), fetched the first time an answer has math. */
function loadMathStylesheet() {
  if (document.querySelector('link[href="' + MATH_STYLESHEET + '"]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = MATH_STYLESHEET;
  document.head.appendChild(link);
}

/** A copy button on every code block; syntax colours once the block is final (not per frame). */
function decorateCodeBlocks(root, final) {
  root.querySelectorAll("pre > code").forEach((code) => {
    const pre = code.parentNode;
    const block = document.createElement("div");
    block.className = "code-block";
    pre.parentNode.replaceChild(block, pre);
    const bar = document.createElement("div");
    bar.className = "code-bar";
    const language = document.createElement("span");
    language.className = "code-language";
    language.textContent = (code.className.match(/language-([\w+-]+)/) || ["", ""])[1];
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "icon-button code-copy";
    copy.setAttribute("data-testid", "copy-code");
    copy.setAttribute("aria-label", t("copy_code"));
    copy.textContent = t("copy");
    bar.append(language, copy);
    block.append(bar, pre);
    if (final) highlight(code, language.textContent);
  });
}

function highlight(code, language) {
  const hljs = window.hljs;
  if (!hljs) return;
  if (language && hljs.getLanguage(language)) hljs.highlightElement(code);
  else if (!language) {
    code.innerHTML = hljs.highlightAuto(code.textContent).value; // hljs escapes the text
    code.classList.add("hljs");
  }
}

/** Copies `text`; the button says whether it worked, then reads "copy" again. */
export function copyText(button, text) {
  const done = (key) => {
    button.textContent = t(key);
    window.setTimeout(() => {
      button.textContent = t("copy");
    }, COPIED_RESET_MS);
  };
  if (!navigator.clipboard) return done("copy_failed"); // only secure pages may write it
  navigator.clipboard.writeText(text).then(
    () => done("copied"),
    () => done("copy_failed")
  );
}

/** A click anywhere: the copy button of a code block copies its code. */
export function copyCodeOnClick(event) {
  const button = event.target.closest && event.target.closest(".code-copy");
  // Without the newline that closes the fence: it is not part of the code.
  if (button) copyText(button, button.closest(".code-block").querySelector("code").textContent.replace(/\n$/, ""));
}

/** The picture answering `/imagine <prompt>`: alt text is the prompt; it can be downloaded, and, when
 * `onEdit` is given (a stored answer in the chat, not the share page), edited. */
export function imageFigure(image, onEdit = null) {
  const figure = document.createElement("figure");
  figure.className = "thread-image";
  figure.setAttribute("data-testid", "thread-image");
  const picture = document.createElement("img");
  picture.src = image.url;
  picture.alt = image.prompt;
  picture.width = image.width;
  picture.height = image.height;
  const download = document.createElement("a");
  download.className = "thread-image-download";
  download.setAttribute("data-testid", "thread-image-download");
  download.href = image.url;
  download.download = "imagine-" + image.id + ".png";
  download.textContent = t("download_image");
  const actions = document.createElement("div");
  actions.className = "picture-actions";
  actions.appendChild(download);
  if (onEdit) actions.appendChild(editPictureButton(onEdit));
  figure.append(picture, actions);
  return figure;
}

/** "Edit image" under a picture in the thread: onEdit() puts the composer into editing it. */
export function editPictureButton(onEdit) {
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "icon-button picture-edit";
  edit.setAttribute("data-testid", "picture-edit");
  edit.setAttribute("aria-label", t("edit_image"));
  edit.append(icon("sparkle"), t("edit_image"));
  edit.addEventListener("click", onEdit);
  return edit;
}

/** Pictures the model's code saved (data URLs from the server, PNG or JPEG), in order. */
export function codeImagesFigure(dataUrls) {
  const figure = document.createElement("figure");
  figure.className = "code-images";
  figure.setAttribute("data-testid", "code-images");
  for (const url of dataUrls) {
    if (!/^data:image\/(png|jpeg);base64,/.test(url)) continue; // only what the sandbox returns
    const picture = document.createElement("img");
    picture.src = url;
    picture.alt = t("code_image");
    figure.appendChild(picture);
  }
  return figure;
}

export function searchProgress(search) {
  const urls = search.urls || [];
  const text = urls.length ? t("reading_link", { link: hostOf(urls[0]) }) : t("searching_web");
  const status = extraNote("search-status", text);
  status.setAttribute("role", "status");
  return status;
}

export function sourcesPanel(sources) {
  const panel = document.createElement("section");
  panel.className = "sources";
  panel.setAttribute("data-testid", "sources");
  const heading = document.createElement("h3");
  heading.textContent = t("sources");
  const list = document.createElement("ol");
  sources.forEach((source) => list.appendChild(sourceItem(source)));
  panel.append(heading, list);
  return panel;
}

/** A web source links to its page; a file source ("report.pdf, p. 3") is named only. */
function sourceItem(source) {
  const item = document.createElement("li");
  item.value = source.number;
  if (!source.url) item.className = "source-file";
  const safe = /^https?:\/\//i.test(source.url);
  const link = document.createElement(safe ? "a" : "span");
  if (safe) {
    link.href = source.url;
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
  }
  link.textContent = source.title || source.url;
  const host = document.createElement("span");
  host.className = "source-host";
  host.textContent = hostOf(source.url);
  item.append(link, host);
  return item;
}

/** A failed search: our sentence in the page's language; the server's reason (in English) on hover. */
export function searchErrorNote(reason) {
  const failed = extraNote("search-error", t("search_failed"));
  failed.title = reason;
  return failed;
}

/** Links from the question that could not be read: which page, and why (the server's words). */
export function unreadLinksNote(links) {
  const box = extraNote("unread-links", t("links_not_read"));
  box.setAttribute("data-testid", "unread-links");
  const list = document.createElement("ul");
  links.forEach((link) => {
    const item = document.createElement("li");
    item.textContent = t("link_not_read", { host: hostOf(link.url) || link.url, reason: link.reason });
    item.title = link.url;
    list.appendChild(item);
  });
  box.appendChild(list);
  return box;
}

export function codeWarningsNote(warnings) {
  const box = extraNote("code-warnings", t("code_warnings"));
  box.setAttribute("data-testid", "code-warnings");
  const list = document.createElement("ul");
  warnings.forEach((warning) => {
    const item = document.createElement("li");
    item.textContent = t("code_warning_line", warning);
    list.appendChild(item);
  });
  box.appendChild(list);
  return box;
}

function extraNote(className, text) {
  const note = document.createElement("div");
  note.className = "extra " + className;
  const paragraph = document.createElement("p");
  paragraph.textContent = text;
  note.appendChild(paragraph);
  return note;
}

function hostOf(url) {
  try {
    return new URL(url).hostname;
  } catch (_) {
    return url;
  }
}
