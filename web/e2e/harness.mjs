// End-to-end harness: starts an embedded Petit chat server (a throw-away data directory,
// a free loopback port, this build's web client from web/dist) and Debian's Chromium
// driven by playwright-core (no browser is downloaded: PETIT_CHAT_CHROMIUM or
// /usr/bin/chromium). Both stop when the test ends.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function binary() {
  if (process.env.PETIT_CHAT_BIN) return process.env.PETIT_CHAT_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(web, "..", "target");
  const built = ["debug", "release"].map((p) => join(target, p, "petit-chat")).filter((p) => existsSync(p));
  if (built.length === 0) throw new Error("no petit-chat binary: cargo build -p petit-chat, or set PETIT_CHAT_BIN");
  return built.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** Starts a server (with `config`, a TOML text, if given); resolves to { base, stop }. */
export async function startServer({ config } = {}) {
  const data = mkdtempSync(join(tmpdir(), "petit-chat-e2e-"));
  const args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--web-dir", join(web, "dist")];
  if (config) {
    writeFileSync(join(data, "config.toml"), config);
    args.push("--config", join(data, "config.toml"));
  }
  const child = spawn(binary(), args, {
    env: {
      ...process.env,
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      // The default request-rate limits stay on, but for sends: some tests seed hundreds of
      // messages through the API in a second, far faster than a person types.
      PETIT_CHAT__LIMITS__RATE__PER_USER__SEND__PER_MINUTE: "0",
      PETIT_CHAT__LIMITS__RATE__PER_ADDRESS__SEND__PER_MINUTE: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return started(child, data);
}

export async function startBrowser() {
  const executablePath = process.env.PETIT_CHAT_CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath} (scripts/test installs Debian's chromium)`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      // Host candidates as addresses, not mDNS names this machine cannot resolve.
      "--disable-features=WebRtcHideLocalIpsWithMdns",
    ],
  });
}

/** A signed-in page of its own browser context (its own storage: one person). */
export async function signedIn(browser, base, username) {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  context.setDefaultTimeout(10_000);
  // Every Content-Security-Policy violation of the page is kept for cspViolations().
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${username}] page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && console.error(`[${username}] console: ${m.text()}`));
  page.on("dialog", (d) => void d.accept());
  await page.goto(base);
  await page.getByLabel("Username").fill(username);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "New chat" }).waitFor();
  return page;
}

const axeSource = readFileSync(join(web, "node_modules", "axe-core", "axe.min.js"), "utf8");

/** axe-core's serious and critical violations on the page as it is now. */
export async function seriousViolations(page) {
  const results = await page.evaluate(`${axeSource}\n;axe.run(document, { resultTypes: ["violations"] })`);
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** Picks a person in a people picker by typing the start of their username. */
export async function pickPerson(scope, label, username) {
  await scope.getByLabel(label, { exact: true }).fill(username.slice(0, 2));
  await scope.getByRole("option", { name: new RegExp(`@${username}$`) }).click();
}

/** Starts a direct chat with someone from the "New chat" dialog, and waits for it to open. */
export async function startDirectChat(page, username, displayName = username) {
  await page.getByRole("button", { name: "New chat" }).click();
  const dialog = page.getByRole("dialog", { name: "New chat" });
  await pickPerson(dialog, "Username", username);
  await dialog.getByRole("button", { name: "Start chat" }).click();
  await page.getByRole("heading", { name: displayName }).waitFor();
}

/** Calls the API as the person signed in on `page` (their token from the page's storage). */
export async function apiAs(page, base, method, path, body) {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("petit-chat.session")).token);
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * A cluster-shape run's own name for what it creates on the stack: its keyspace, NATS
 * stream prefix, S3 key prefix and search index (`web_e2e_<8 hex digits>`, the form
 * scripts/lib/stack_cleanup.py removes).
 */
export const clusterTag = () => `web_e2e_${Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, "0")}`;

/**
 * Starts node `n` of a cluster-shape test on port `port`: `deploy/local/cluster.toml` (the
 * stack's Cassandra, NATS, S3, OpenSearch and Keycloak), with what it creates named by
 * `tag` (see `clusterTag`; `removeFromStack` removes it). Keycloak's dev realm lets the
 * web client come back to 127.0.0.1:18080 and :18081 only, hence fixed ports.
 */
export async function startClusterNode(n, port, tag) {
  const data = mkdtempSync(join(tmpdir(), "petit-chat-e2e-node-"));
  const config = join(web, "..", "deploy", "local", "cluster.toml");
  const child = spawn(binary(), ["serve", "--listen", `127.0.0.1:${port}`, "--config", config, "--data-dir", data, "--web-dir", join(web, "dist")], {
    env: {
      ...process.env,
      PETIT_CHAT__STORE__KEYSPACE: tag,
      PETIT_CHAT__BUS__PREFIX: tag,
      PETIT_CHAT__BLOBS__PREFIX: tag,
      PETIT_CHAT__SEARCH__INDEX: tag,
      PETIT_CHAT__SERVER__NODE_ID: String(n),
      RUST_LOG: process.env.RUST_LOG ?? "warn,scylla=error",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return started(child, data);
}

/**
 * Removes from the stack what the nodes of run `tag` created (scripts/lib/stack_cleanup.py,
 * with the stack tools' python), so runs do not pile keyspaces, streams and indices up.
 * Reports a failure without failing the tests: they ran.
 */
export function removeFromStack(tag) {
  const root = join(web, "..");
  const python = execFileSync(join(root, "scripts", "lib", "pytools.sh"), ["stack"], { encoding: "utf8" }).trim();
  const cleanup = spawnSync(python, [join(root, "scripts", "lib", "stack_cleanup.py"), tag], { encoding: "utf8" });
  if (cleanup.status !== 0) console.error(`could not remove all of ${tag} from the stack:\n${cleanup.stderr}`);
}

async function started(child, data) {
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const base = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`the server did not come up in 60 s\n${stderr}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/Petit chat is up: (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1].replace(/\/$/, ""));
      }
    });
    child.on("exit", (code) => fail(new Error(`the server exited (${code}) at start\n${stderr}`)));
  });
  return {
    base,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.once("exit", ok)));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** What the page's Content-Security-Policy blocked so far (nothing, in a correct client). */
export const cspViolations = (page) => page.evaluate(() => window.__cspViolations ?? []);

/**
 * Waits until `fn` (run in the page, awaited: it may be async) returns something truthy.
 * (Playwright's waitForFunction takes a returned promise for a truthy value at once.)
 */
export async function waitUntil(page, fn, arg, timeout = 10_000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > end) throw new Error(`not true within ${timeout} ms: ${fn}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}
