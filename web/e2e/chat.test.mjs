// Two people in two browser contexts chat live in the embedded shape: a new direct chat,
// messages both ways, typing, seen by, reply, reaction, edit, delete, reload and resume.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { seriousViolations, signedIn, startBrowser, startDirectChat, startServer } from "./harness.mjs";

let server, browser, alice, bob;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  alice = await signedIn(browser, server.base, "alice");
  bob = await signedIn(browser, server.base, "bob");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const exactly = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
/** The message whose text is exactly `text` (not one quoting it). */
const message = (page, text) => page.locator("li.message").filter({ has: page.locator("p.body", { hasText: exactly(text) }) });

test("the login page and the empty app have no serious accessibility violation", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.base);
  await page.getByLabel("Username").waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  assert.deepEqual(await seriousViolations(alice), []);
  await context.close();
});

test("alice and bob chat live both ways", async () => {
  await startDirectChat(alice, "bob");
  await alice.getByRole("textbox", { name: "Message" }).fill("hello bob");
  await alice.getByRole("textbox", { name: "Message" }).press("Enter");
  await message(alice, "hello bob").waitFor();

  // Bob's list gets the chat live, with one unread message.
  const chatLink = bob.getByRole("link", { name: /alice/ });
  await chatLink.getByText("1 unread").waitFor();
  await chatLink.click();
  await message(bob, "hello bob").waitFor();
  await chatLink.getByText("1 unread").waitFor({ state: "detached" });
  assert.deepEqual(await seriousViolations(bob), []);

  // Alice sees that bob read it, and that he is typing.
  await message(alice, "hello bob").getByText("Seen by bob").waitFor();
  await bob.getByRole("textbox", { name: "Message" }).pressSequentially("hi al");
  await alice.getByText("bob is typing…").waitFor();
  await bob.getByRole("textbox", { name: "Message" }).pressSequentially("ice");
  await bob.getByRole("textbox", { name: "Message" }).press("Enter");
  await message(alice, "hi alice").waitFor();
  await alice.getByText("bob is typing…").waitFor({ state: "detached" });
});

test("a reply quotes, a reaction counts, an edit and a delete reach the other side", async () => {
  await message(bob, "hello bob").hover();
  await message(bob, "hello bob").getByRole("button", { name: "Reply" }).click();
  await bob.getByText("Replying to alice").waitFor();
  await bob.getByRole("textbox", { name: "Message" }).fill("answering you");
  await bob.getByRole("textbox", { name: "Message" }).press("Enter");
  await message(alice, "answering you").locator("blockquote", { hasText: "hello bob" }).waitFor();

  await message(alice, "answering you").hover();
  await message(alice, "answering you").getByRole("button", { name: "React", exact: true }).click();
  await alice.getByRole("button", { name: "React with 👍" }).click();
  await message(bob, "answering you").getByRole("button", { name: "👍 1" }).waitFor();
  // Any emoji, typed in the picker's field.
  await message(alice, "answering you").hover();
  await message(alice, "answering you").getByRole("button", { name: "React", exact: true }).click();
  await alice.getByRole("textbox", { name: "Another emoji" }).fill("🦄 unicorn");
  await alice.getByRole("button", { name: "Add reaction" }).click();
  await message(bob, "answering you").getByRole("button", { name: "🦄 1" }).waitFor();

  await message(alice, "hello bob").hover();
  await message(alice, "hello bob").getByRole("button", { name: "Edit" }).click();
  await alice.getByRole("textbox", { name: "Message" }).fill("hello bob, edited");
  await alice.getByRole("textbox", { name: "Message" }).press("Enter");
  await message(bob, "hello bob, edited").getByText("(edited)").waitFor();

  await alice.getByRole("textbox", { name: "Message" }).fill("a slip");
  await alice.getByRole("textbox", { name: "Message" }).press("Enter");
  await message(bob, "a slip").waitFor();
  await message(alice, "a slip").hover();
  await message(alice, "a slip").getByRole("button", { name: "Delete" }).click();
  await message(bob, "This message was deleted.").waitFor();
  await message(bob, "a slip").waitFor({ state: "detached" });
});

test("after a reload, bob sees the history and new messages arrive live", async () => {
  await bob.reload();
  await message(bob, "hello bob, edited").waitFor();
  await message(bob, "answering you").getByRole("button", { name: "👍 1" }).waitFor();
  await alice.getByRole("textbox", { name: "Message" }).fill("after your reload");
  await alice.getByRole("textbox", { name: "Message" }).press("Enter");
  await message(bob, "after your reload").waitFor();
  assert.equal(await message(bob, "after your reload").count(), 1, "shown once");
});
