// Fails the build when the JavaScript the first page loads is over budget (200 KB
// gzipped, the ceiling): the entry script and what it imports statically.
import { readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET = 200 * 1024;
const dist = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="\/([^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const file of initial) {
  const size = gzipSync(readFileSync(join(dist, file))).length;
  total += size;
  console.log(`size: ${file} ${(size / 1024).toFixed(1)} KB gzipped`);
}
console.log(`size: initial JS ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (initial.length === 0 || total > BUDGET) {
  console.error(initial.length === 0 ? "size: no script found in dist/index.html" : "size: over budget");
  process.exit(1);
}
