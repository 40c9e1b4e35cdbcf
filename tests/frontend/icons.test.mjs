// The icon sprite built from Lucide at install (frontend/vendor.mjs) holds every icon the code names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const frontend = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "frontend");
const scripts = join(frontend, "static", "frontend");
const templates = join(frontend, "templates", "frontend");
const sprite = readFileSync(join(scripts, "vendor", "icons.svg"), "utf8");
const symbols = new Map([...sprite.matchAll(/<symbol id="([a-z0-9-]+)"[^>]*>(.*?)<\/symbol>/g)].map((m) => [m[1], m[2]]));

function named(folder, pattern) {
  const files = readdirSync(folder).filter((file) => /\.(js|html)$/.test(file));
  return files.flatMap((file) => [...readFileSync(join(folder, file), "utf8").matchAll(pattern)].map((m) => m[1]));
}

test("every symbol draws something in the text's colour and carries Lucide's licence notice", () => {
  assert.ok(symbols.size >= 20, `only ${symbols.size} symbols`);
  for (const [name, body] of symbols) assert.match(body, /<(path|circle|rect|line|polyline|polygon)\b/, name);
  assert.match(sprite, /stroke="currentColor"/);
  assert.match(sprite, /Lucide .*ISC License/);
});

test("every icon named in the scripts and templates is in the sprite", () => {
  const used = [
    ...named(scripts, /iconButton\([^,]+,\s*"([a-z0-9-]+)"/g),
    ...named(scripts, /\bicon\("([a-z0-9-]+)"\)/g),
    ...named(templates, /_icon\.html" with name="([a-z0-9-]+)"/g),
  ];
  assert.ok(used.length >= 20, `found only ${used.length} uses`);
  assert.deepEqual([...new Set(used)].filter((name) => !symbols.has(name)), []);
});
