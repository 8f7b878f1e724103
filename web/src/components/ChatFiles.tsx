import { createResource, For, Show } from "solid-js";
import { api, unwrap } from "../api/client";
import { nameOf } from "../state";
import { AttachmentView } from "./Attachments";
import { openModal } from "./ui";

/** Every file sent in a chat, newest first (a dialog). */
export function ChatFiles(props: { chatId: string; onClose: () => void }) {
  const [files] = createResource(
    () => props.chatId,
    (chatId) => unwrap(api.GET("/api/v1/chats/{chat_id}/attachments", { params: { path: { chat_id: chatId }, query: { limit: 100 } } })),
  );
  return (
    <dialog class="files-dialog" aria-labelledby="files-title" ref={openModal} onClose={props.onClose}>
      <h2 id="files-title">Files of this chat</h2>
      <Show when={files()} fallback={<p class="hint">{files.error ? "The files could not be loaded." : "Loading…"}</p>}>
        <Show when={files()!.items.length > 0} fallback={<p class="hint">No files were sent here yet.</p>}>
          <ul class="file-list">
            <For each={files()!.items}>
              {(f) => (
                <li>
                  <AttachmentView attachment={f} />
                  <span class="hint">
                    {nameOf(f.uploader_id)} · {new Date(f.created_at).toLocaleDateString()}
                  </span>
                </li>
              )}
            </For>
          </ul>
        </Show>
      </Show>
      <form method="dialog" class="row end">
        <button type="submit">Close</button>
      </form>
    </dialog>
  );
}
