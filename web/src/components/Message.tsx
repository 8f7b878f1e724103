import { createSignal, For, Match, Show, Switch } from "solid-js";
import { toggleReaction } from "../actions";
import { AttachmentView } from "./Attachments";
import { ReactionPicker } from "./ReactionPicker";
import { answer, call } from "../calls";
import { stopSharing } from "./Location";
import { cmpId } from "../ids";
import { deliver, discard, nameOf, state, type Entry } from "../state";


const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export interface MessageActions {
  reply: (entry: Entry) => void;
  edit: (entry: Entry) => void;
  remove: (entry: Entry) => void;
}

/** One entry of the timeline: a message, a location, a call, or a joined/left line. */
export function Message(props: { entry: Entry; actions: MessageActions; seenBy: string[] }) {
  const e = () => props.entry;
  const mine = () => e().author_id === state.me?.id;
  const [picking, setPicking] = createSignal(false);
  const mentionsMe = () => !mine() && !e().deleted && (e().mention_everyone || (e().mentions ?? []).includes(state.me?.id ?? ""));
  const isLine = () => e().kind === "joined" || e().kind === "left";
  const canModerate = () => {
    const role = state.chats[e().chat_id]?.me?.role;
    return role === "owner" || role === "admin";
  };

  return (
    <Show
      when={!isLine()}
      fallback={
        <li class="line" data-signal-id={e().id}>
          {membership(e())} · <time datetime={e().created_at}>{time(e().created_at)}</time>
        </li>
      }
    >
      <li class={`message ${mine() ? "mine" : ""} ${e().deleted ? "deleted" : ""} ${mentionsMe() ? "mentions-me" : ""}`} data-signal-id={e().id} tabIndex={-1} aria-label={`${nameOf(e().author_id)} at ${time(e().created_at)}`}>
        <div class="meta">
          <strong class="author">{nameOf(e().author_id)}</strong> <time datetime={e().created_at}>{time(e().created_at)}</time>
          <Show when={e().edited_at && !e().deleted}>
            <span class="hint"> (edited)</span>
          </Show>
        </div>
        <Show when={e().reply_to && !e().deleted}>
          <Quote chatId={e().chat_id} id={e().reply_to!} />
        </Show>
        <Switch>
          <Match when={e().deleted}>
            <p class="body hint">This message was deleted.</p>
          </Match>
          <Match when={e().kind === "msg"}>
            <Show when={e().text}>
              <p class="body">
                <Text entry={e()} />
              </p>
            </Show>
            <Show when={e().attachments?.length}>
              <ul class="files" aria-label="Attachments">
                <For each={e().attachments}>
                  {(a) => (
                    <li>
                      <AttachmentView attachment={a} />
                    </li>
                  )}
                </For>
              </ul>
            </Show>
          </Match>
          <Match when={e().kind === "location" && e().location}>
            <p class="body">
              📍 {e().location!.label ? `${e().location!.label}: ` : ""}
              {e().location!.lat.toFixed(5)}, {e().location!.lon.toFixed(5)}{" "}
              <a href={`https://www.openstreetmap.org/?mlat=${e().location!.lat}&mlon=${e().location!.lon}#map=16/${e().location!.lat}/${e().location!.lon}`} target="_blank" rel="noopener noreferrer">
                Open map
              </a>
              <Show when={e().live_until && new Date(e().live_until!) > new Date()}>
                <span class="hint"> (live until {time(e().live_until!)})</span>
                <Show when={mine()}>
                  {" "}
                  <button type="button" onClick={() => void stopSharing(e()).catch(() => {})}>
                    Stop sharing
                  </button>
                </Show>
              </Show>
            </p>
          </Match>
          <Match when={e().kind === "call" && e().call}>
            <p class="body">
              📞 {e().call!.media === "video" ? "Video call" : "Call"}
              {e().call!.missed ? " · missed" : e().call!.state === "ended" ? ` · ${Math.round(e().call!.duration_secs ?? 0)} s` : ` · ${e().call!.state}`}{" "}
              <Show when={e().call!.state === "ongoing" && call.active?.id !== e().id}>
                <button type="button" onClick={() => void answer({ id: e().id, chatId: e().chat_id, from: e().author_id, media: e().call!.media }).catch(() => {})}>
                  Join
                </button>
              </Show>
            </p>
          </Match>
        </Switch>
        <Show when={!e().deleted && e().reactions.length > 0}>
          <ul class="reactions" aria-label="Reactions">
            <For each={e().reactions}>
              {(r) => (
                <li>
                  <button type="button" aria-pressed={r.me} aria-label={`${r.emoji} ${r.count}${r.me ? ", yours" : ""}`} onClick={() => void toggleReaction(e().chat_id, e().id, r.emoji, r.me)}>
                    {r.emoji} {r.count}
                  </button>
                </li>
              )}
            </For>
          </ul>
        </Show>
        <Show when={e().pending}>
          <p class="status" role="status">
            <Show when={e().pending!.failed} fallback="Sending…">
              Not sent.{" "}
              <button type="button" onClick={() => void deliver(e().chat_id, e()).catch(() => {})}>
                Retry
              </button>{" "}
              <button type="button" onClick={() => discard(e().chat_id, e().pending!.nonce)}>
                Discard
              </button>
            </Show>
          </p>
        </Show>
        <Show when={mine() && !e().pending && !e().deleted}>
          <Ticks entry={e()} seenBy={props.seenBy} />
        </Show>
        <Show when={!e().pending && !e().deleted}>
          <div class="actions" role="group" aria-label="Message actions">
            <button type="button" onClick={() => props.actions.reply(e())}>
              Reply
            </button>
            <button type="button" aria-expanded={picking()} onClick={() => setPicking(!picking())}>
              React
            </button>
            <Show when={mine() && e().kind === "msg"}>
              <button type="button" onClick={() => props.actions.edit(e())}>
                Edit
              </button>
            </Show>
            <Show when={mine() || canModerate()}>
              <button type="button" onClick={() => props.actions.remove(e())}>
                Delete
              </button>
            </Show>
            <Show when={picking()}>
              <ReactionPicker
                onPick={(emoji) => {
                  setPicking(false);
                  const mine = e().reactions.find((r) => r.emoji === emoji)?.me ?? false;
                  void toggleReaction(e().chat_id, e().id, emoji, mine);
                }}
                onClose={() => setPicking(false)}
              />
            </Show>
          </div>
        </Show>
      </li>
    </Show>
  );
}

/** A message's text, with the people it mentions marked. */
function Text(props: { entry: Entry }) {
  const parts = () => {
    const text = props.entry.text ?? "";
    const names = (props.entry.mentions ?? []).map(nameOf).concat(props.entry.mention_everyone ? ["everyone"] : []);
    if (names.length === 0) return [text];
    const escaped = names.sort((a, b) => b.length - a.length).map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    return text.split(new RegExp(`(@(?:${escaped.join("|")}))`, "g"));
  };
  // split() with a capturing group: the odd parts are the mentions.
  return <For each={parts()}>{(part, i) => (i() % 2 === 1 ? <span class="mention">{part}</span> : <>{part}</>)}</For>;
}

/** A joined/left line: who joined, was added or removed, or left, and by whom. */
function membership(e: Entry): string {
  const who = nameOf(e.author_id);
  const users = e.user_ids ?? [];
  const others = users.filter((u) => u !== e.author_id).map(nameOf).join(", ");
  if (e.kind === "joined") {
    if (!others) return `${who} joined`;
    return users.includes(e.author_id) ? `${who} started the chat with ${others}` : `${who} added ${others}`;
  }
  return others ? `${who} removed ${others}` : `${who} left`;
}

/** The message a reply answers, quoted (if it is loaded). */
function Quote(props: { chatId: string; id: string }) {
  const quoted = () => state.timelines[props.chatId]?.items.find((x) => x.id === props.id);
  return (
    <blockquote class="quote">
      <Show when={quoted()} fallback={<span class="hint">Reply to an earlier message</span>}>
        <strong>{nameOf(quoted()!.author_id)}</strong>: {quoted()!.deleted ? "deleted message" : quoted()!.text}
      </Show>
    </blockquote>
  );
}

/** Sent, delivered, seen: for my own messages. */
function Ticks(props: { entry: Entry; seenBy: string[] }) {
  const delivered = () =>
    (state.members[props.entry.chat_id] ?? []).some((m) => m.user_id !== state.me?.id && m.delivered_up_to && cmpId(m.delivered_up_to, props.entry.id) >= 0);
  return (
    <p class="status">
      <Show when={props.seenBy.length > 0} fallback={<><span aria-hidden="true">{delivered() ? "✓✓" : "✓"}</span><span class="sr-only">{delivered() ? "Delivered" : "Sent"}</span></>}>
        <span class="seen">Seen by {props.seenBy.map(nameOf).join(", ")}</span>
      </Show>
    </p>
  );
}
