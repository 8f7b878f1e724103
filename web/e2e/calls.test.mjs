// A 1:1 video call between two pages (Chromium's fake camera and microphone): it rings,
// is answered, reaches `connected` and decodes the other side's frames; once directly and
// once relayed through the stack's coturn (the server tells clients to relay only).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { seriousViolations, signedIn, startBrowser, startDirectChat, startServer } from "./harness.mjs";

/** The stack's TURN server (started here if the environment does not name it). */
function turn() {
  if (!process.env.PETIT_CHAT_STACK_TURN_URL) {
    const stack = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "stack");
    execFileSync(stack, ["up", "coturn"], { stdio: "inherit" });
    for (const line of execFileSync(stack, ["env"], { encoding: "utf8" }).split("\n")) {
      const m = line.match(/^export (PETIT_CHAT_STACK_TURN_(?:URL|SECRET))='(.*)'$/);
      if (m) process.env[m[1]] = m[2];
    }
  }
  return { url: process.env.PETIT_CHAT_STACK_TURN_URL, secret: process.env.PETIT_CHAT_STACK_TURN_SECRET };
}

async function videoCall(config, route) {
  const server = await startServer({ config });
  const browser = await startBrowser();
  try {
    const alice = await signedIn(browser, server.base, "alice");
    const bob = await signedIn(browser, server.base, "bob");
    await startDirectChat(alice, "bob");

    await alice.getByRole("button", { name: "Video call" }).click();
    await alice.getByRole("region", { name: "Call" }).getByText("Ringing…").waitFor();
    const ring = bob.getByRole("alertdialog", { name: "alice is calling (video)" });
    await ring.waitFor();
    assert.deepEqual(await seriousViolations(bob), []);
    await ring.getByRole("button", { name: "Answer" }).click();

    for (const [page, other] of [
      [alice, "bob"],
      [bob, "alice"],
    ]) {
      await page.getByRole("status").getByText(`Connected (${route})`).waitFor({ timeout: 20_000 });
      // The other side's video is decoded: frames with a size.
      await page.waitForFunction(
        (label) => {
          const v = document.querySelector(`video[aria-label="${label}"]`);
          return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5;
        },
        `Video of ${other}`,
        { timeout: 20_000 },
      );
    }

    await alice.getByRole("button", { name: "Mute" }).click();
    await alice.getByRole("button", { name: "Unmute", pressed: true }).waitFor();
    await alice.getByRole("button", { name: "Camera off" }).click();
    await alice.getByRole("button", { name: "Camera on", pressed: true }).waitFor();

    await bob.getByRole("button", { name: "Hang up" }).click();
    await bob.getByRole("region", { name: "Call" }).waitFor({ state: "detached" });
    await alice.getByRole("region", { name: "Call" }).waitFor({ state: "detached" });
    await alice.locator("li.message", { hasText: /Video call · \d+ s/ }).waitFor();
  } finally {
    await browser.close();
    await server.stop();
  }
}

test("a video call connects directly and both sides decode video", async () => {
  await videoCall(undefined, "direct");
});

test("a video call relayed through coturn when the server says relay only", async () => {
  const { url, secret } = turn();
  assert.ok(url && secret, "scripts/stack env names the TURN server");
  await videoCall(`[calls]\nturn_urls = ["${url}"]\nturn_secret = "${secret}"\nrelay_only = true\n`, "relayed");
});
