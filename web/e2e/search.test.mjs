// Search in the browser: across chats with highlights, and a click that opens the result
// in its chat's context (older than the newest page), then back to the latest.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiAs, signedIn, startBrowser, startServer } from "./harness.mjs";

let server, browser, alice, bob, chatId;

const api = (page, method, path, body) => apiAs(page, server.base, method, path, body);

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  alice = await signedIn(browser, server.base, "alice");
  bob = await signedIn(browser, server.base, "bob");
  const bobId = (await api(bob, "GET", "/api/v1/me")).id;
  chatId = (await api(alice, "POST", "/api/v1/chats", { kind: "group", title: "Lunch", members: [bobId] })).id;
  await api(alice, "POST", `/api/v1/chats/${chatId}/signals`, { kind: "msg", text: "Meet me at the café on Rue Saint-Denis", nonce: "target" });
  for (let i = 0; i < 70; i++) {
    await api(alice, "POST", `/api/v1/chats/${chatId}/signals`, { kind: "msg", text: `filler number ${i}`, nonce: `filler-${i}` });
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a search across chats finds a message by a folded word, highlighted, and opens it in context", async () => {
  await bob.getByRole("link", { name: /Lunch/ }).waitFor();
  await bob.keyboard.press("Control+K");
  const dialog = bob.getByRole("dialog", { name: "Search" });
  await dialog.getByRole("searchbox", { name: "Search messages" }).fill("cafe saint");
  const hit = dialog.getByRole("list", { name: "Results" }).getByRole("button").first();
  // Indexing is asynchronous: search again until it is there (a few tenths of a second).
  for (let i = 0; i < 50 && !(await hit.isVisible()); i++) {
    await dialog.getByRole("button", { name: "Search", exact: true }).click();
    await bob.waitForTimeout(200);
  }
  await hit.waitFor();
  assert.deepEqual(await hit.locator("mark").allTextContents(), ["café", "Saint"]);
  assert.match(await hit.innerText(), /Lunch · alice/);
  await hit.click();

  const target = bob.locator("li.message.focused");
  await target.getByText("Meet me at the café on Rue Saint-Denis").waitFor();
  assert.ok(await target.isVisible());
  assert.equal(await bob.locator("li.message", { hasText: "filler number 69" }).count(), 0, "the newest page is not loaded");

  await bob.getByRole("button", { name: "Jump to latest" }).click();
  await bob.locator("li.message", { hasText: "filler number 69" }).waitFor();
  await bob.getByRole("button", { name: "Jump to latest" }).waitFor({ state: "detached" });
});

test("a search in one chat that finds nothing says so", async () => {
  await bob.getByRole("button", { name: "Search", exact: true }).click();
  const dialog = bob.getByRole("dialog", { name: "Search" });
  await dialog.getByRole("radio", { name: "This chat" }).check();
  await dialog.getByRole("searchbox", { name: "Search messages" }).fill("zeppelin");
  await dialog.getByRole("button", { name: "Search", exact: true }).click();
  await dialog.getByText("Nothing found.").waitFor();
  await dialog.getByRole("button", { name: "Close" }).click();
});
