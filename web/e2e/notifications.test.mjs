// Notifications in the browser: a message in a hidden tab shows as a notification (one per
// chat), the service worker shows the server's Web Push payloads and clears them, and the
// push opt-in says plainly when the browser cannot subscribe (as here: Playwright's
// contexts are incognito, where Chromium has no Push API, and Chromium's push service is
// on the internet, which this machine does not reach).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiAs, signedIn, startBrowser, startServer, waitUntil } from "./harness.mjs";

let server, browser, alice, bob, chatId;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  [alice, bob] = await Promise.all(["alice", "bob"].map((u) => signedIn(browser, server.base, u)));
  await alice.context().grantPermissions(["notifications"]);
  await alice.reload();
  await alice.getByRole("button", { name: "New chat" }).waitFor();
  const aliceId = (await apiAs(alice, server.base, "GET", "/api/v1/me")).id;
  chatId = (await apiAs(bob, server.base, "POST", "/api/v1/chats", { kind: "direct", members: [aliceId] })).id;
  await alice.getByRole("link", { name: /bob/ }).waitFor();
  await alice.evaluate(() => navigator.serviceWorker.ready);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shown = (page) =>
  page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })));

test("a message while the tab is hidden shows as a notification, one per chat", async () => {
  // Headless Chromium reports every page visible, whatever is in front: the tab is told
  // it is hidden, as a browser tells a tab in the background.
  await alice.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  for (const text of ["are you there?", "ping"]) {
    await apiAs(bob, server.base, "POST", `/api/v1/chats/${chatId}/signals`, { kind: "msg", text, nonce: text.replace(/\W/g, "-") });
  }
  await waitUntil(alice, async () => {
    const all = await (await navigator.serviceWorker.ready).getNotifications();
    return all.length === 1 && all[0].body === "ping";
  });
  assert.deepEqual(await shown(alice), [{ title: "bob", body: "ping", tag: chatId }]);
  // Not read while hidden.
  await alice.getByRole("link", { name: /bob/ }).getByText("2 unread").waitFor();
});

test("the service worker shows a pushed message and clears it when it is read elsewhere", async () => {
  await alice.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).forEach((n) => n.close()));
  await waitUntil(alice, async () => (await (await navigator.serviceWorker.ready).getNotifications()).length === 0);
  const cdp = await alice.context().newCDPSession(alice);
  const registration = new Promise((ok) =>
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => {
      const ours = e.registrations.find((r) => !r.isDeleted && r.scopeURL.startsWith(server.base));
      if (ours) ok(ours);
    }),
  );
  await cdp.send("ServiceWorker.enable");
  const { registrationId } = await registration;
  const push = (payload) =>
    cdp.send("ServiceWorker.deliverPushMessage", { origin: server.base, registrationId, data: JSON.stringify(payload) });

  // A chat of its own (its tag untouched by the first test).
  const other = "990000000000000001";
  await push({ type: "message", id: "k1", chat_id: other, signal_id: "1", title: "bob", body: "pushed hello", sender: "bob", unread: 3 });
  await waitUntil(alice, async () => (await (await navigator.serviceWorker.ready).getNotifications()).length === 1);
  assert.deepEqual(await shown(alice), [{ title: "bob", body: "pushed hello", tag: other }]);

  await push({ type: "clear", id: "k2", chat_id: other, signal_id: "1" });
  await waitUntil(alice, async () => (await (await navigator.serviceWorker.ready).getNotifications()).length === 0);
});

test("turning push on says why it cannot here, and registers nothing", async () => {
  await alice.getByRole("button", { name: "Notifications" }).click();
  const dialog = alice.getByRole("dialog", { name: "Notifications on this device" });
  await dialog.getByText("This browser may show notifications from Petit chat.").waitFor();
  await dialog.getByRole("button", { name: "Turn on notifications on this device" }).click();
  await dialog.getByRole("status").getByText(/push service cannot be reached/).waitFor({ timeout: 20_000 });
  assert.deepEqual(await apiAs(alice, server.base, "GET", "/api/v1/me/push-targets"), []);
  await dialog.getByRole("button", { name: "Close" }).click();
});
