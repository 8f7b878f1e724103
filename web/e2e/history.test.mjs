// A long history in the browser: scrolling up to the first message and back down keeps at
// most a window of entries in the page, and nothing is lost or shown twice on the way.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiAs, signedIn, startBrowser, startServer } from "./harness.mjs";

let server, browser, alice, bob;
const COUNT = 420;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  [alice, bob] = await Promise.all(["alice", "bob"].map((u) => signedIn(browser, server.base, u)));
  const bobId = (await apiAs(bob, server.base, "GET", "/api/v1/me")).id;
  const chat = await apiAs(alice, server.base, "POST", "/api/v1/chats", { kind: "group", title: "Archive", members: [bobId] });
  for (let i = 0; i < COUNT; i++) {
    await apiAs(alice, server.base, "POST", `/api/v1/chats/${chat.id}/signals`, { kind: "msg", text: `entry ${i}`, nonce: `n${i}` });
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The numbers of the entries in the page, in order. */
const shown = (page) => page.$$eval("li.message p.body", (els) => els.map((el) => Number(el.textContent.replace("entry ", ""))));

test("scrolling through a long history keeps a bounded window, in order, without gaps", async () => {
  await bob.getByRole("link", { name: /Archive/ }).click();
  await bob.locator("li.message", { hasText: `entry ${COUNT - 1}` }).waitFor();
  const scroller = bob.locator(".scroller");
  let largest = 0;
  while (!(await bob.getByText("This is the beginning of the chat.").isVisible())) {
    await scroller.evaluate((el) => (el.scrollTop = 0));
    await bob.waitForTimeout(150);
    const now = await shown(bob);
    largest = Math.max(largest, now.length);
    assert.deepEqual(now, Array.from({ length: now.length }, (_, i) => now[0] + i), "consecutive, no duplicate");
  }
  const top = await shown(bob);
  assert.equal(top[0], 0, "the first message is reached");
  assert.ok(largest <= 300, `at most 300 entries in the page (saw ${largest})`);
  assert.ok(!top.includes(COUNT - 1), "the newest were dropped on the way up");

  // And back down to the newest.
  while (!(await shown(bob)).includes(COUNT - 1)) {
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await bob.waitForTimeout(150);
    const now = await shown(bob);
    assert.deepEqual(now, Array.from({ length: now.length }, (_, i) => now[0] + i), "consecutive, no duplicate");
    assert.ok(now.length <= 300);
  }
  await bob.getByRole("button", { name: "Jump to latest" }).waitFor({ state: "detached" });
});
