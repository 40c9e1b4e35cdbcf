// A browser-like global scope for markdown.js under node: the vendored DOMPurify bound to a jsdom
// window, and `self` (KaTeX's UMD build defines window.katex through it).
import { createRequire } from "node:module";

const require = createRequire(new URL("../../frontend/package.json", import.meta.url));
const { JSDOM } = require("jsdom");

export const dom = new JSDOM("<!doctype html><body></body>");
globalThis.window = dom.window;
globalThis.self = globalThis;
await import("../../frontend/static/frontend/vendor/purify.min.js");
