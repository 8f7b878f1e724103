// Keyboard only: signing in, starting a chat, sending, reacting, replying and searching
// without the mouse, with the focus always visible; and the app at 360 px wide.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { seriousViolations, signedIn, startBrowser, startServer } from "./harness.mjs";

let server, browser, page, bob;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  bob = await signedIn(browser, server.base, "bob");
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  await page.goto(server.base);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The focused element's text, and its label (aria-label, or its <label>'s text). */
const focused = () =>
  page.evaluate(() => {
    const el = document.activeElement;
    return { text: el?.textContent?.trim() ?? "", label: el?.getAttribute("aria-label") ?? el?.labels?.[0]?.textContent?.trim() ?? "" };
  });

/** Presses Tab (or Shift+Tab) until the focused element's text or label is `name`. */
async function tabTo(name, back = false) {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const now = await focused();
    if (now.text === name || now.label === name) {
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, "none", `the focus on “${name}” is visible`);
      return;
    }
  }
  assert.fail(`“${name}” is not reachable with ${back ? "Shift+Tab" : "Tab"}`);
}

test("everything from signing in to reacting, with the keyboard only", async () => {
  await tabTo("Username");
  await page.keyboard.type("alice");
  await page.keyboard.press("Enter");
  await page.getByRole("button", { name: "New chat" }).waitFor();

  await tabTo("New chat");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab"); // the dialog: to the direct/group radios
  await tabTo("Username");
  await page.keyboard.type("bo");
  await page.getByRole("option", { name: /@bob$/ }).waitFor();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  await tabTo("Start chat");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "bob" }).waitFor();

  await tabTo("Message");
  await page.keyboard.type("typed without a mouse");
  await page.keyboard.press("Enter");
  await bob.getByRole("link", { name: /alice/ }).click();
  await bob.locator("li.message", { hasText: "typed without a mouse" }).waitFor();

  await tabTo("React", true);
  await page.keyboard.press("Enter");
  await tabTo("React with 🎉");
  await page.keyboard.press("Enter");
  await bob.getByRole("button", { name: "🎉 1" }).waitFor();

  await page.keyboard.press("Control+K");
  await page.getByRole("dialog", { name: "Search" }).waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("dialog", { name: "Search" }).waitFor({ state: "detached" });
});

test("at 360 px wide, the chat list and the open chat fit, without serious accessibility violations", async () => {
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `nothing wider than the screen (${overflow} px too wide)`);
  await page.getByRole("textbox", { name: "Message" }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  for (const theme of ["dark", "light"]) {
    await page.emulateMedia({ colorScheme: theme });
    assert.deepEqual(await seriousViolations(page), [], `no serious violation in the ${theme} theme`);
  }
});
