// Offline and back: the banner while the live connection is down, a send that failed
// retried once without doubling, a send whose answer was lost shown once by its event, what was missed shown after the reconnection; the first
// unread message jumped to; and no Content-Security-Policy violation on the way.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiAs, cspViolations, signedIn, startBrowser, startDirectChat, startServer } from "./harness.mjs";

let server, browser, alice, bob;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  [alice, bob] = await Promise.all(["alice", "bob"].map((u) => signedIn(browser, server.base, u)));
  await startDirectChat(alice, "bob");
  await bob.getByRole("link", { name: /alice/ }).click();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const box = (page) => page.getByRole("textbox", { name: "Message" });
const message = (page, text) => page.locator("li.message", { hasText: text });

test("a send whose answer is lost: once its own event (with its nonce) arrives, it shows once, with nothing to retry", async () => {
  // The browser's request fails, then the same request reaches the server after all (a
  // connection that broke after sending): the message is stored, its answer never read.
  let lost;
  await alice.route("**/api/v1/chats/*/signals", async (route) => {
    const request = route.request();
    if (request.method() !== "POST") return route.fallback();
    lost = { url: request.url(), headers: await request.allHeaders(), body: request.postData() };
    await route.abort("connectionreset");
  });
  await box(alice).fill("answer lost on the way");
  await box(alice).press("Enter");
  await message(alice, "answer lost on the way").getByText("Not sent.").waitFor();
  await alice.unroute("**/api/v1/chats/*/signals");
  const landed = await fetch(lost.url, {
    method: "POST",
    headers: { authorization: lost.headers.authorization, "content-type": "application/json" },
    body: lost.body,
  });
  assert.equal(landed.status, 201);
  await message(bob, "answer lost on the way").waitFor();
  await message(alice, "answer lost on the way").getByText("Not sent.").waitFor({ state: "detached" });
  await alice.waitForTimeout(500);
  assert.equal(await message(alice, "answer lost on the way").count(), 1, "once");
  assert.equal(await message(alice, "answer lost on the way").getByRole("button", { name: "Retry" }).count(), 0, "nothing to retry");
});

test("offline: a banner, a failed send retried once, and what was missed after the reconnection", async () => {
  await alice.context().setOffline(true);
  await alice.getByRole("status").getByText("Offline: reconnecting…").waitFor({ timeout: 20_000 });

  await box(alice).fill("sent while offline");
  await box(alice).press("Enter");
  await message(alice, "sent while offline").getByText("Not sent.").waitFor();
  await box(bob).fill("missed while you were away");
  await box(bob).press("Enter");

  await alice.context().setOffline(false);
  await alice.getByText("Offline: reconnecting…").waitFor({ state: "detached", timeout: 40_000 });
  await message(alice, "missed while you were away").waitFor();

  await message(alice, "sent while offline").getByRole("button", { name: "Retry" }).click();
  await message(bob, "sent while offline").waitFor();
  await alice.waitForTimeout(500);
  assert.equal(await message(bob, "sent while offline").count(), 1, "once");
  assert.equal(await message(alice, "sent while offline").count(), 1, "once");
});

test("a chat with many unread messages opens on its newest page, and jumps to the first unread", async () => {
  const chatId = await alice.evaluate(() => location.pathname.split("/").pop());
  // Bob leaves the chat for the list of nothing (another chat) while alice writes 80 messages.
  await bob.getByRole("link", { name: "Petit chat" }).click();
  for (let i = 0; i < 80; i++) {
    await apiAs(alice, server.base, "POST", `/api/v1/chats/${chatId}/signals`, { kind: "msg", text: `unread ${i}`, nonce: `u${i}` });
  }
  await bob.getByRole("link", { name: /alice/ }).getByText("80 unread").waitFor();
  await bob.reload(); // nothing of the chat in memory: it opens on its newest page
  await bob.getByRole("link", { name: /alice/ }).getByText("80 unread").click();
  await message(bob, "unread 79").waitFor();
  assert.equal(await message(bob, "unread 0").count(), 0);
  await bob.getByRole("button", { name: "Jump to first unread" }).click();
  await bob.locator("li.message.focused", { hasText: "unread 0" }).waitFor();
  assert.ok(await bob.getByText("New messages").isVisible());
  assert.deepEqual(await cspViolations(alice), []);
  assert.deepEqual(await cspViolations(bob), []);
});
