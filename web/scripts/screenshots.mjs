// Takes the README's screenshots of the main views (docs/screenshots/*.png) from a real
// embedded server and Chromium, as the end-to-end tests run them. Run after a build:
//   npm run build && node scripts/screenshots.mjs
// (Debian's fonts-noto-color-emoji makes the emoji show; without it they are boxes.)
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { apiAs, signedIn, startBrowser, startServer } from "../e2e/harness.mjs";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "screenshots");
const server = await startServer();
const browser = await startBrowser();
try {
  const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((u) => signedIn(browser, server.base, u)));
  const id = async (page) => (await apiAs(page, server.base, "GET", "/api/v1/me")).id;
  const [bobId, carolId] = [await id(bob), await id(carol)];
  const team = await apiAs(alice, server.base, "POST", "/api/v1/chats", { kind: "group", title: "Design team", members: [bobId, carolId] });
  await apiAs(alice, server.base, "POST", "/api/v1/chats", { kind: "direct", members: [bobId] });
  const say = (page, text, extra = {}) =>
    apiAs(page, server.base, "POST", `/api/v1/chats/${team.id}/signals`, { kind: "msg", text, nonce: Math.random().toString(36).slice(2), ...extra });
  await say(alice, "Morning! The new login screen is ready for review.");
  const q = await say(bob, "Nice. Does it handle long usernames on small phones?");
  await say(carol, "I tried 360 px: it wraps fine.", { reply_to: q.id });
  const last = await say(alice, "Great, @bob can you merge it before lunch?", { mentions: [bobId] });
  await apiAs(bob, server.base, "PUT", `/api/v1/chats/${team.id}/signals/${last.id}/reactions/${encodeURIComponent("👍")}`);
  await apiAs(carol, server.base, "PUT", `/api/v1/chats/${team.id}/signals/${last.id}/reactions/${encodeURIComponent("🎉")}`);
  await apiAs(bob, server.base, "POST", `/api/v1/chats/${team.id}/signals`, {
    kind: "location",
    location: { lat: 48.8606, lon: 2.3376, label: "Lunch at the Louvre café" },
    nonce: "loc",
  });

  await bob.setViewportSize({ width: 1200, height: 720 });
  await bob.getByRole("link", { name: /Design team/ }).click();
  await bob.locator("li.message", { hasText: "Lunch at the Louvre" }).waitFor();
  await bob.waitForTimeout(500);
  await bob.screenshot({ path: join(out, "chat.png") });

  await bob.emulateMedia({ colorScheme: "dark" });
  await bob.keyboard.press("Control+K");
  await bob.getByRole("searchbox", { name: "Search messages" }).fill("login");
  for (let i = 0; i < 20 && !(await bob.getByRole("list", { name: "Results" }).isVisible()); i++) {
    await bob.getByRole("dialog", { name: "Search" }).getByRole("button", { name: "Search", exact: true }).click();
    await bob.waitForTimeout(200);
  }
  await bob.screenshot({ path: join(out, "search-dark.png") });

  await carol.setViewportSize({ width: 360, height: 740 });
  await carol.getByRole("link", { name: /Design team/ }).click();
  await carol.locator("li.message", { hasText: "Lunch at the Louvre" }).waitFor();
  await carol.waitForTimeout(500);
  await carol.screenshot({ path: join(out, "phone.png") });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.stop();
}
