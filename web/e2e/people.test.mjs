// Groups in the browser: people added and removed live, a member leaving, per-chat
// notification settings, and a status that the other side sees.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiAs, pickPerson, seriousViolations, signedIn, startBrowser, startDirectChat, startServer } from "./harness.mjs";

let server, browser, alice, bob, carol;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((u) => signedIn(browser, server.base, u)));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const line = (page, text) => page.locator("li.line", { hasText: text });

test("a group's people: added and removed live, and a member who leaves", async () => {
  await alice.getByRole("button", { name: "New chat" }).click();
  const create = alice.getByRole("dialog", { name: "New chat" });
  await create.getByRole("radio", { name: "Group" }).check();
  await create.getByLabel("Group name").fill("Team");
  await pickPerson(create, "Username", "bob");
  await create.getByRole("list", { name: "People in the new chat" }).getByText("@bob").waitFor();
  await create.getByRole("button", { name: "Start chat" }).click();
  await alice.getByRole("heading", { name: "Team" }).waitFor();

  await alice.getByRole("button", { name: "People and settings" }).click();
  const settings = alice.getByRole("dialog", { name: "Group settings" });
  await pickPerson(settings, "Add someone by username", "carol");
  await settings.getByRole("button", { name: "Remove carol" }).waitFor();
  assert.deepEqual(await seriousViolations(alice), []);
  await carol.getByRole("link", { name: /Team/ }).waitFor();
  await line(alice, "alice added carol").waitFor();

  await settings.getByRole("button", { name: "Remove carol" }).click();
  await settings.getByRole("button", { name: "Remove carol" }).waitFor({ state: "detached" });
  await carol.getByRole("link", { name: /Team/ }).waitFor({ state: "detached" });
  await line(alice, "alice removed carol").waitFor();
  await settings.getByRole("button", { name: "Close" }).click();

  await bob.getByRole("link", { name: /Team/ }).click();
  await bob.getByRole("button", { name: "People and settings" }).click();
  await bob.getByRole("dialog", { name: "Group settings" }).getByRole("button", { name: "Leave group" }).click();
  await bob.getByRole("link", { name: /Team/ }).waitFor({ state: "detached" });
  await line(alice, "bob left").waitFor();
});

test("the owner makes an admin, who may then add people, and hands ownership over", async () => {
  const ids = await Promise.all([bob, carol].map(async (p) => (await apiAs(p, server.base, "GET", "/api/v1/me")).id));
  await apiAs(alice, server.base, "POST", "/api/v1/chats", { kind: "group", title: "Roles", members: ids });
  await alice.getByRole("link", { name: /Roles/ }).click();
  await alice.getByRole("button", { name: "People and settings" }).click();
  const settings = alice.getByRole("dialog", { name: "Group settings" });
  await settings.getByLabel("Role of bob").selectOption("admin");

  await bob.getByRole("link", { name: /Roles/ }).click();
  await bob.getByRole("button", { name: "People and settings" }).click();
  const bobs = bob.getByRole("dialog", { name: "Group settings" });
  await bobs.getByText("bob (you) admin").waitFor();
  await bobs.getByRole("combobox", { name: "Add someone by username" }).waitFor(); // an admin adds people
  assert.equal(await bobs.getByLabel("Role of carol").count(), 0, "only the owner changes roles");
  await bobs.getByRole("button", { name: "Close" }).click();

  await settings.getByRole("button", { name: "Make bob owner" }).click();
  await settings.getByText("alice (you) admin").waitFor();
  await settings.getByText("bob owner").waitFor();
  assert.equal(await settings.getByLabel("Role of carol").count(), 0, "no longer the owner");
  await settings.getByRole("button", { name: "Close" }).click();
});

test("notification settings of a chat are kept", async () => {
  await alice.getByRole("button", { name: "People and settings" }).click();
  const settings = alice.getByRole("dialog", { name: "Group settings" });
  await settings.getByLabel("Notify me of").selectOption("mentions");
  await settings.getByRole("status").getByText("Saved.").waitFor();
  await settings.getByRole("button", { name: "Close" }).click();
  await alice.reload();
  await alice.getByRole("button", { name: "People and settings" }).click();
  assert.equal(await alice.getByRole("dialog", { name: "Group settings" }).getByLabel("Notify me of").inputValue(), "mentions");
  await alice.getByRole("dialog", { name: "Group settings" }).getByRole("button", { name: "Close" }).click();
});

test("a status set by alice is shown to bob in their direct chat", async () => {
  await startDirectChat(bob, "alice");

  await alice.getByRole("button", { name: "alice · Online" }).click();
  const dialog = alice.getByRole("dialog", { name: "Your status" });
  await dialog.getByRole("radio", { name: "Away" }).check();
  await dialog.getByLabel("Status text").fill("at lunch");
  await dialog.getByRole("button", { name: "Save" }).click();
  await alice.getByRole("button", { name: "alice · Away: at lunch" }).waitFor();
  await bob.locator(".chat-header").getByText("away · at lunch").waitFor();
});
