import { For, Show } from "solid-js";
import { chatOrder, chatTitle, directPeer, nameOf, state } from "../state";
import type { Entry } from "../state";

/** One line of what a chat last said. */
export function preview(entry: Entry | undefined): string {
  if (!entry) return "No messages yet";
  if (entry.deleted) return "Message deleted";
  const who = entry.author_id === state.me?.id ? "You" : nameOf(entry.author_id);
  switch (entry.kind) {
    case "msg":
      return `${who}: ${entry.text || (entry.attachments?.length ? "📎 file" : "")}`;
    case "location":
      return `${who} shared a location`;
    case "call":
      return entry.call?.missed ? "Missed call" : "Call";
    case "joined":
      return `${who} joined`;
    case "left":
      return `${who} left`;
  }
}

/** The sidebar: my chats by recent activity, with unread and mention badges and presence. */
export function ChatList(props: { current: string | null; open: (id: string) => void }) {
  return (
    <nav aria-label="Chats" class="chat-list">
      <Show when={state.loaded && chatOrder().length === 0}>
        <p class="hint">No chats yet: start one with “New chat”.</p>
      </Show>
      <ul>
        <For each={chatOrder()}>
          {(chat) => {
            const peer = () => directPeer(chat);
            const online = () => {
              const p = peer();
              return p ? state.presence[p]?.online : undefined;
            };
            const unread = () => chat.unread ?? 0;
            const mentions = () => chat.unread_mentions ?? 0;
            return (
              <li>
                <a
                  href={`/chats/${chat.id}`}
                  aria-current={props.current === chat.id ? "page" : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    props.open(chat.id);
                  }}
                >
                  <span class="chat-name">
                    <Show when={online() !== undefined}>
                      <span class={`dot ${online() ? "online" : ""}`} role="img" aria-label={online() ? "online" : "offline"} />
                    </Show>
                    <span class="title">{chatTitle(chat)}</span>
                    <Show when={mentions() > 0}>
                      <span class="badge mention">
                        <span aria-hidden="true">@{mentions()}</span>
                        <span class="sr-only">{mentions()} mentions</span>
                      </span>
                    </Show>
                    <Show when={unread() > 0}>
                      <span class="badge">
                        <span aria-hidden="true">{unread() > 999 ? "999+" : unread()}</span>
                        <span class="sr-only">{unread()} unread</span>
                      </span>
                    </Show>
                  </span>
                  <span class="preview">{preview(state.previews[chat.id])}</span>
                </a>
              </li>
            );
          }}
        </For>
      </ul>
    </nav>
  );
}
