// Attachments in the browser: an image (upload progress, thumbnail, lightbox) and a PDF
// (file card, download with the same bytes), and the chat's "Files" view.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readFile } from "node:fs/promises";
import { seriousViolations, signedIn, startBrowser, startDirectChat, startServer } from "./harness.mjs";

let server, browser, alice, bob;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  alice = await signedIn(browser, server.base, "alice");
  bob = await signedIn(browser, server.base, "bob");
  await startDirectChat(alice, "bob");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A PNG drawn by the browser (a real image the server's thumbnailer decodes). */
async function png(page, width, height) {
  const dataUrl = await page.evaluate(([w, h]) => {
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext("2d");
    for (let i = 0; i < 2000; i++) {
      g.fillStyle = `hsl(${i % 360} 70% 50%)`;
      g.fillRect((i * 37) % w, (i * 91) % h, 40, 40);
    }
    return canvas.toDataURL("image/png");
  }, [width, height]);
  return Buffer.from(dataUrl.split(",")[1], "base64");
}

const pdf = Buffer.from(
  "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
);

test("an image and a PDF are uploaded with progress, shown, opened and downloaded", async () => {
  const image = await png(alice, 1200, 800);
  // Slow the upload down so its progress shows (localhost is otherwise instant).
  const cdp = await alice.context().newCDPSession(alice);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  await alice.locator('input[type="file"]').setInputFiles([
    { name: "photo.png", mimeType: "image/png", buffer: image },
    { name: "report.pdf", mimeType: "application/pdf", buffer: pdf },
  ]);
  await alice.getByRole("progressbar", { name: "Uploading photo.png" }).waitFor();
  await alice.getByRole("list", { name: "Files to send" }).getByText("ready").nth(1).waitFor({ timeout: 30_000 });
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await alice.getByRole("textbox", { name: "Message" }).fill("the photo and the report");
  await alice.getByRole("button", { name: "Send" }).click();

  await bob.getByRole("link", { name: /alice/ }).click();
  const thumb = bob.getByRole("button", { name: "Open image photo.png" }).locator("img");
  await thumb.waitFor({ timeout: 20_000 });
  await bob.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle());
  const width = await thumb.evaluate((img) => img.naturalWidth);
  assert.ok(width <= 400, `a thumbnail, not the 1200 px original (got ${width} px)`);

  await bob.getByRole("button", { name: "Open image photo.png" }).click();
  const lightbox = bob.getByRole("dialog", { name: "photo.png" });
  await lightbox.locator("img").waitFor();
  await bob.waitForFunction(() => {
    const img = document.querySelector("dialog.lightbox img");
    return img && img.complete && img.naturalWidth === 1200;
  });
  assert.deepEqual(await seriousViolations(bob), []);
  await lightbox.getByRole("button", { name: "Close" }).click();
  await lightbox.waitFor({ state: "detached" });

  const card = bob.locator(".file-card", { hasText: "report.pdf" });
  await card.getByText(`${(pdf.length / 1024).toFixed(1)} KB`).or(card.getByText(`${pdf.length} B`)).waitFor();
  const [saved] = await Promise.all([bob.waitForEvent("download"), card.getByRole("button", { name: "Download report.pdf" }).click()]);
  assert.equal(saved.suggestedFilename(), "report.pdf");
  assert.deepEqual(await readFile(await saved.path()), pdf, "the same bytes");
});

test("files dropped on the chat or pasted in the composer are attached", async () => {
  const box = alice.getByRole("textbox", { name: "Message" });
  // A drop and a paste as the browser makes them, with a DataTransfer holding a file.
  await alice.locator("section.chat").evaluate((chat) => {
    const dt = new DataTransfer();
    dt.items.add(new File(["dropped notes"], "dropped.txt", { type: "text/plain" }));
    chat.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
    chat.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await box.evaluate((textarea) => {
    const dt = new DataTransfer();
    dt.items.add(new File(["pasted notes"], "pasted.txt", { type: "text/plain" }));
    textarea.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  const tray = alice.getByRole("list", { name: "Files to send" });
  await tray.getByText("ready").nth(1).waitFor();
  await box.fill("two more");
  await box.press("Enter");
  const sent = bob.locator("li.message", { hasText: "two more" });
  await sent.locator(".file-card", { hasText: "dropped.txt" }).waitFor();
  await sent.locator(".file-card", { hasText: "pasted.txt" }).waitFor();
});

test("the chat's files view lists what was sent", async () => {
  await bob.getByRole("button", { name: "All files" }).click();
  const dialog = bob.getByRole("dialog", { name: "Files of this chat" });
  await dialog.getByRole("button", { name: "Open image photo.png" }).waitFor();
  await dialog.locator(".file-card", { hasText: "report.pdf" }).waitFor();
  await dialog.getByRole("button", { name: "Close" }).click();
});
