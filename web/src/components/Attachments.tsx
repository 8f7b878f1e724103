import { createResource, createSignal, For, Show } from "solid-js";
import type { Attachment } from "../api/client";
import { download, objectUrl, size } from "../files";
import { openModal } from "./ui";

/** An attachment of a message: an image thumbnail that opens a lightbox, or a file card. */
export function AttachmentView(props: { attachment: Attachment }) {
  const a = () => props.attachment;
  const [open, setOpen] = createSignal(false);
  return (
    <Show when={a().kind === "image"} fallback={<FileCard attachment={a()} />}>
      <Thumbnail attachment={a()} onOpen={() => setOpen(true)} />
      <Show when={open()}>
        <Lightbox attachment={a()} onClose={() => setOpen(false)} />
      </Show>
    </Show>
  );
}

function Thumbnail(props: { attachment: Attachment; onOpen: () => void }) {
  const [url] = createResource(() => props.attachment, (a) => objectUrl(a, "thumbnail"));
  return (
    <button type="button" class="thumb" aria-label={`Open image ${props.attachment.filename}`} onClick={props.onOpen}>
      <Show when={url()} fallback={<span class="thumb-placeholder hint">{url.error ? "Image unavailable" : "Loading image…"}</span>}>
        <img src={url()} alt={props.attachment.filename} />
      </Show>
    </button>
  );
}

function Lightbox(props: { attachment: Attachment; onClose: () => void }) {
  const [url] = createResource(() => props.attachment, (a) => objectUrl(a, "content"));
  return (
    <dialog
      class="lightbox"
      aria-label={props.attachment.filename}
      ref={openModal}
      onClose={props.onClose}
      onClick={(e) => e.target === e.currentTarget && e.currentTarget.close()}
    >
      <Show when={url()} fallback={<p class="hint">Loading…</p>}>
        <img src={url()} alt={props.attachment.filename} />
      </Show>
      <div class="row end">
        <button type="button" onClick={() => void download(props.attachment)}>
          Download
        </button>
        <form method="dialog">
          <button type="submit" autofocus>
            Close
          </button>
        </form>
      </div>
    </dialog>
  );
}

export function FileCard(props: { attachment: Attachment }) {
  const [error, setError] = createSignal<string | null>(null);
  return (
    <div class="file-card">
      <span aria-hidden="true">📄</span>
      <span class="file-name">{props.attachment.filename}</span>
      <span class="hint">{size(props.attachment.size)}</span>
      <button type="button" aria-label={`Download ${props.attachment.filename}`} onClick={() => download(props.attachment).catch((e) => setError(String(e.message ?? e)))}>
        Download
      </button>
      <Show when={error()}>
        <span role="alert" class="error">
          {error()}
        </span>
      </Show>
    </div>
  );
}

/** Files being attached to the message in the composer, with their progress. */
export interface Upload {
  key: number;
  file: File;
  progress: number;
  attachment?: Attachment;
  error?: string;
  abort: AbortController;
}

export function UploadTray(props: { uploads: Upload[]; remove: (key: number) => void }) {
  return (
    <ul class="uploads" aria-label="Files to send">
      <For each={props.uploads}>
        {(u) => (
          <li>
            <span class="file-name">{u.file.name}</span> <span class="hint">{size(u.file.size)}</span>
            <Show when={!u.attachment && !u.error}>
              <progress max="1" value={u.progress} aria-label={`Uploading ${u.file.name}`} />
            </Show>
            <Show when={u.attachment}>
              <span class="hint"> ready</span>
            </Show>
            <Show when={u.error}>
              <span class="error"> {u.error}</span>
            </Show>
            <button type="button" aria-label={`Remove ${u.file.name}`} onClick={() => props.remove(u.key)}>
              ×
            </button>
          </li>
        )}
      </For>
    </ul>
  );
}
