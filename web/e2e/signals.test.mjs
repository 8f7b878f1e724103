// Mentions (autocomplete, badges, marks) and shared locations (once and live) in the browser.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiAs, seriousViolations, signedIn, startBrowser, startServer } from "./harness.mjs";

let server, browser, alice, bob, carol;

const api = (page, method, path, body) => apiAs(page, server.base, method, path, body);

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((u) => signedIn(browser, server.base, u)));
  const ids = await Promise.all([bob, carol].map(async (p) => (await api(p, "GET", "/api/v1/me")).id));
  await api(alice, "POST", "/api/v1/chats", { kind: "group", title: "Plans", members: ids });
  await alice.getByRole("link", { name: /Plans/ }).click();
  await alice.locator(".chat-header").getByText("3 members").waitFor();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const composer = (page) => page.getByRole("textbox", { name: "Message" });

test("a mention picked from the list reaches only the one mentioned, marked and counted", async () => {
  await composer(alice).pressSequentially("hi @b");
  const options = alice.getByRole("listbox", { name: "People to mention" });
  await options.getByRole("option", { name: "@bob" }).waitFor();
  assert.equal(await options.getByRole("option").count(), 1);
  assert.deepEqual(await seriousViolations(alice), []);
  await composer(alice).press("Enter");
  assert.equal(await composer(alice).inputValue(), "hi @bob ");
  await composer(alice).pressSequentially("look at this");
  await composer(alice).press("Enter");

  const bobsChat = bob.getByRole("link", { name: /Plans/ });
  await bobsChat.getByText("1 mentions").waitFor();
  await carol.getByRole("link", { name: /Plans/ }).getByText("1 unread").waitFor();
  assert.equal(await carol.getByRole("link", { name: /Plans/ }).getByText(/mentions/).count(), 0);

  await bobsChat.click();
  const message = bob.locator("li.message.mentions-me", { hasText: "look at this" });
  await message.locator(".mention", { hasText: "@bob" }).waitFor();

  // @everyone, for the owner of a group: carol is called too.
  await composer(alice).pressSequentially("@ev");
  await alice.getByRole("option", { name: "@everyone" }).click();
  await composer(alice).pressSequentially("lunch?");
  await composer(alice).press("Enter");
  await carol.getByRole("link", { name: /Plans/ }).getByText("1 mentions").waitFor();
});

test("a location shared live moves, and stops when its author stops it", async () => {
  await alice.context().grantPermissions(["geolocation"]);
  await alice.context().setGeolocation({ latitude: 48.8606, longitude: 2.3376 });
  await alice.getByRole("button", { name: "Share a location" }).click();
  const dialog = alice.getByRole("dialog", { name: "Share your location" });
  await dialog.getByLabel("Name of the place").fill("Louvre");
  await dialog.getByLabel("How long").selectOption({ label: "Live for 15 minutes" });
  await dialog.getByRole("button", { name: "Share" }).click();

  const shared = bob.locator("li.message", { hasText: "Louvre: 48.86060, 2.33760" });
  await shared.getByText(/live until/).waitFor();
  assert.match(await shared.getByRole("link", { name: "Open map" }).getAttribute("href"), /mlat=48.8606&mlon=2.3376/);

  await alice.context().setGeolocation({ latitude: 48.853, longitude: 2.3499 });
  await bob.locator("li.message", { hasText: "Louvre: 48.85300, 2.34990" }).waitFor({ timeout: 15_000 });

  await alice.locator("li.message", { hasText: "Louvre" }).getByRole("button", { name: "Stop sharing" }).click();
  await bob.locator("li.message", { hasText: "Louvre" }).getByText(/live until/).waitFor({ state: "detached" });
});
