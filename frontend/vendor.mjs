// Copies the browser builds of the npm packages the pages use into static/frontend/vendor/, where
// Django serves them from this origin (the CSP allows no CDN). Run after `npm ci`.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "static", "frontend", "vendor");

// Every file is one that a browser can load as it is. highlight.js's own npm package has no browser
// bundle; @highlightjs/cdn-assets is the same release built for browsers. markdown-it's and KaTeX's
// ES builds import other packages by bare name, which a browser cannot resolve without a bundler or
// an import map (an inline script the CSP refuses), so their self-contained UMD builds are used:
// imported by markdown.js, they define window.markdownit and window.katex. The three plugins'
// ES builds import nothing.
const files = {
  "dompurify/dist/purify.min.js": "purify.min.js",
  "@highlightjs/cdn-assets/highlight.min.js": "highlight.min.js",
  "markdown-it/dist/markdown-it.min.js": "markdown-it.min.js",
  "markdown-it-footnote/index.mjs": "markdown-it-footnote.js",
  "@mdit/plugin-tasklist/dist/index.js": "mdit-tasklist.js",
  "@mdit/plugin-tex/dist/index.js": "mdit-tex.js",
  "katex/dist/katex.min.js": "katex.min.js",
  "katex/dist/katex.min.css": "katex.min.css",
};
// katex.min.css names its fonts as url(fonts/…), relative to itself.
const folders = { "katex/dist/fonts": "fonts" };

// A source map comment names a map that is not copied (two of them the same index.js.map):
// collectstatic's hashed names (frontend/storage.py) refuse a reference to a missing file.
const SOURCE_MAP_COMMENT = /^\/\/# sourceMappingURL=.*$|\/\*# sourceMappingURL=.*?\*\//gm;

mkdirSync(target, { recursive: true });
for (const [source, name] of Object.entries(files)) {
  const text = readFileSync(join(here, "node_modules", source), "utf8");
  writeFileSync(join(target, name), text.replace(SOURCE_MAP_COMMENT, ""));
  console.log(`vendor/${name} <- node_modules/${source}`);
}
for (const [source, name] of Object.entries(folders)) {
  cpSync(join(here, "node_modules", source), join(target, name), { recursive: true });
  console.log(`vendor/${name}/ <- node_modules/${source}/`);
}

// The page's icons: one sprite of Lucide's SVGs (lucide-static, ISC), each under the name the code
// uses (icons.js, frontend/_icon.html), so a symbol can be swapped without touching a caller.
const ICONS = {
  plus: "plus",
  menu: "menu",
  share: "share-2",
  sparkle: "sparkles",
  sun: "sun",
  moon: "moon",
  settings: "settings",
  close: "x",
  regenerate: "refresh-cw",
  copy: "copy",
  rename: "pencil",
  delete: "trash-2",
  attach: "paperclip",
  file: "file-text",
  temporary: "message-circle-dashed",
  "thumbs-up": "thumbs-up",
  "thumbs-down": "thumbs-down",
  photo: "image",
  mic: "mic",
  speaker: "volume-2",
  stop: "square",
  "chevron-left": "chevron-left",
  "chevron-right": "chevron-right",
};
const LUCIDE = join(here, "node_modules", "lucide-static");
const { version } = JSON.parse(readFileSync(join(LUCIDE, "package.json"), "utf8"));
const symbols = Object.entries(ICONS).map(([name, lucideName]) => {
  const svg = readFileSync(join(LUCIDE, "icons", `${lucideName}.svg`), "utf8");
  const [, attributes, body] = svg.match(/<svg([^>]*)>([\s\S]*)<\/svg>/);
  const kept = attributes.replace(/\s(class|xmlns|width|height)="[^"]*"/g, "").replace(/\s+/g, " ").trim();
  return `  <symbol id="${name}" ${kept}>${body.replace(/\s+/g, " ").trim()}</symbol>`;
});
const notice = `Icons: Lucide (lucide-static ${version}), ISC License, Copyright (c) Lucide Icons and Contributors.`;
writeFileSync(
  join(target, "icons.svg"),
  `<svg xmlns="http://www.w3.org/2000/svg">\n  <!-- ${notice} -->\n${symbols.join("\n")}\n</svg>\n`,
);
cpSync(join(LUCIDE, "LICENSE"), join(target, "lucide-LICENSE.txt"));
console.log(`vendor/icons.svg <- ${Object.keys(ICONS).length} icons of node_modules/lucide-static/icons/`);
