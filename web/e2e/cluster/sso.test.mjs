// The cluster shape in the browser: people sign in through Keycloak's own login page
// (Authorization Code with PKCE, the realm's public client), chat live across two nodes,
// and sign out at Keycloak. Needs the stack: `scripts/stack up` (scripts/test starts it).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { clusterTag, removeFromStack, seriousViolations, startBrowser, startClusterNode, startDirectChat } from "../harness.mjs";

let nodes = [];
let browser;
const tag = clusterTag();

before(async () => {
  nodes = await Promise.all([startClusterNode(1, 18080, tag), startClusterNode(2, 18081, tag)]);
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all(nodes.map((n) => n.stop()));
  removeFromStack(tag);
});

/** Signs in on `base` through Keycloak's login page (dev realm test passwords). */
async function signInWithKeycloak(base, username) {
  const context = await browser.newContext();
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${username}] page error: ${e.message}`));
  await page.goto(base);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/realms\/petit-chat\/protocol\/openid-connect\/auth/);
  await page.locator("#username").fill(username);
  await page.locator("#password").fill(`${username}-test-only`);
  await page.locator("#kc-login").click();
  await page.waitForURL(`${base}/**`);
  await page.getByRole("button", { name: "New chat" }).waitFor();
  assert.ok(!page.url().includes("code="), "the code is taken out of the address");
  return page;
}

test("alice and bob sign in through Keycloak on two nodes and chat live across them", async () => {
  const alice = await signInWithKeycloak(nodes[0].base, "alice");
  const bob = await signInWithKeycloak(nodes[1].base, "bob");
  assert.deepEqual(await seriousViolations(alice), []);

  await startDirectChat(alice, "bob", "Bob Bernard");
  const box = (page) => page.getByRole("textbox", { name: "Message" });
  await box(alice).fill("hello from node one");
  await box(alice).press("Enter");
  await bob.getByRole("link", { name: /Alice Martin/ }).click();
  await bob.locator("li.message", { hasText: "hello from node one" }).waitFor();
  await box(bob).fill("hello from node two");
  await box(bob).press("Enter");
  await alice.locator("li.message", { hasText: "hello from node two" }).waitFor();

  // A reload keeps the session; a token that expired meanwhile is renewed at Keycloak with
  // the refresh token, without a login page.
  const stored = () => bob.evaluate(() => JSON.parse(localStorage.getItem("petit-chat.session")));
  const before = await stored();
  await bob.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("petit-chat.session"));
    localStorage.setItem("petit-chat.session", JSON.stringify({ ...s, expiresAt: Date.now() - 1000 }));
  });
  await bob.reload();
  await bob.locator("li.message", { hasText: "hello from node two" }).waitFor();
  const after = await stored();
  assert.notEqual(after.token, before.token, "a new access token");
  assert.ok(after.expiresAt > Date.now() + 60_000, "good for minutes again");
  await bob.getByRole("textbox", { name: "Message" }).fill("still signed in");
  await bob.getByRole("textbox", { name: "Message" }).press("Enter");
  await alice.locator("li.message", { hasText: "still signed in" }).waitFor();

  // Signing out ends the Keycloak session too: back to the sign-in button, and a new
  // sign-in asks for the password again.
  await alice.getByRole("button", { name: "Sign out" }).click();
  await alice.getByRole("button", { name: "Sign in" }).waitFor();
  await alice.getByRole("button", { name: "Sign in" }).click();
  await alice.locator("#password").waitFor();
});
