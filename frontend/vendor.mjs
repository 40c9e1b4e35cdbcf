// Copies the browser builds of the npm packages the chat page uses into static/frontend/vendor/,
// where Django serves them from this origin (the CSP allows no CDN). Run after `npm ci`.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "static", "frontend", "vendor");

// highlight.js's own npm package has no browser bundle; @highlightjs/cdn-assets is the same
// release built for browsers, as plain files in the npm package.
const files = {
  "dompurify/dist/purify.min.js": "purify.min.js",
  "@highlightjs/cdn-assets/highlight.min.js": "highlight.min.js",
};

mkdirSync(target, { recursive: true });
for (const [source, name] of Object.entries(files)) {
  copyFileSync(join(here, "node_modules", source), join(target, name));
  console.log(`vendor/${name} <- node_modules/${source}`);
}
