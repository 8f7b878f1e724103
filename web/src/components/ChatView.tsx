import { createEffect, createMemo, createSignal, For, on, onCleanup, onMount, Show } from "solid-js";
import { markRead, remove } from "../actions";
import { cmpId } from "../ids";
import { chatTitle, directPeer, loadAround, loadNewer, loadOlder, loadTimeline, nameOf, state, typingIn, type Entry } from "../state";
import { Message } from "./Message";
import { Composer, type ComposerHandle } from "./Composer";
import { ChatFiles } from "./ChatFiles";
import { ChatSettings } from "./ChatSettings";
import { call, startCall } from "../calls";
import { Alert, messageOf } from "./ui";

const day = (iso: string) => new Date(iso).toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });

/** A chat: its timeline (older pages load as it scrolls up), who is typing, and the composer. */
export function ChatView(props: { chatId: string; focus: string | null; onLeft: () => void }) {
  const chat = () => state.chats[props.chatId];
  const timeline = () => state.timelines[props.chatId];
  const [error, setError] = createSignal<string | null>(null);
  const [now, setNow] = createSignal(Date.now());
  const [showFiles, setShowFiles] = createSignal(false);
  const [showSettings, setShowSettings] = createSignal(false);
  const peerStatus = () => {
    const peer = chat() && directPeer(chat()!);
    const p = peer ? state.presence[peer] : undefined;
    if (!p) return null;
    const away = { online: "", away: "away", dnd: "do not disturb", invisible: "", offline: "" }[p.availability];
    return [away, p.text].filter(Boolean).join(" · ") || null;
  };
  const [dragging, setDragging] = createSignal(false);

  let composer: ComposerHandle | undefined;
  let scroller!: HTMLDivElement;
  let sentinel!: HTMLDivElement;
  let bottom!: HTMLDivElement;
  let stick = true;

  const tick = setInterval(() => setNow(Date.now()), 1000);
  onCleanup(() => clearInterval(tick));

  const fail = (e: unknown) => setError(messageOf(e));

  // Load the newest page when the chat opens.
  createEffect(on(() => props.chatId, (id) => {
    setError(null);
    stick = !props.focus;
    if (!state.timelines[id] && !props.focus) loadTimeline(id).catch(fail);
  }));

  // Jump to a signal (a search result, the first unread): load around it, scroll, focus.
  // `then`: which signal to show once loaded (default: the one loaded around).
  async function jump(id: string, then: () => string | null = () => id) {
    stick = false;
    await loadAround(props.chatId, id);
    queueMicrotask(() => {
      const target = then();
      const el = target && scroller.querySelector<HTMLElement>(`[data-signal-id="${target}"]`);
      if (!el) return;
      el.scrollIntoView({ block: "center" });
      scroller.querySelectorAll(".focused").forEach((x) => x.classList.remove("focused"));
      el.classList.add("focused");
      el.focus({ preventScroll: true });
    });
  }
  createEffect(on(() => props.focus, (id) => id && jump(id).catch(fail)));

  // Where my reading stopped when the chat opened: the "new messages" line goes there.
  const readMark = state.chats[props.chatId]?.me?.read_up_to ?? null;
  const unreadAtOpen = state.chats[props.chatId]?.unread ?? 0; // (opening reads them)
  const firstUnread = createMemo(() => {
    const me = state.me?.id;
    return (timeline()?.items ?? []).find((e) => !e.pending && e.author_id !== me && (!readMark || cmpId(e.id, readMark) > 0))?.id ?? null;
  });
  const unreadNotLoaded = () => {
    const t = timeline();
    const first = t?.items.find((e) => !e.pending);
    return !!readMark && !!t && t.hasOlder && unreadAtOpen > 0 && !!first && cmpId(first.id, readMark) > 0;
  };

  // Read what is shown while the tab is visible.
  const newestOthers = createMemo(() => {
    const items = timeline()?.items ?? [];
    for (let i = items.length - 1; i >= 0; i--) if (!items[i].pending) return items[i].id;
    return null;
  });
  const readNewest = () => {
    const id = newestOthers();
    if (id && document.visibilityState === "visible") markRead(props.chatId, id).catch(() => {});
  };
  createEffect(on(newestOthers, readNewest));
  const onVisible = () => readNewest();
  document.addEventListener("visibilitychange", onVisible);
  onCleanup(() => document.removeEventListener("visibilitychange", onVisible));

  // Keep the view at the bottom when new entries come, if it was there.
  createEffect(on(() => timeline()?.items.length, () => {
    if (stick) queueMicrotask(() => (scroller.scrollTop = scroller.scrollHeight));
  }));

  onMount(() => {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((x) => x.isIntersecting)) keepInPlace(() => loadOlder(props.chatId)).catch(fail);
    }, { root: scroller });
    observer.observe(sentinel);
    const below = new IntersectionObserver((entries) => {
      if (entries.some((x) => x.isIntersecting)) keepInPlace(() => loadNewer(props.chatId)).catch(fail);
    }, { root: scroller });
    below.observe(bottom);
    onCleanup(() => {
      observer.disconnect();
      below.disconnect();
    });
  });

  /**
   * Runs a change of the loaded window (pages added at one end, dropped at the other)
   * without moving what the reader sees: the first entry in view stays where it was.
   */
  async function keepInPlace(change: () => Promise<void>) {
    const top = scroller.scrollTop;
    const anchor = [...scroller.querySelectorAll<HTMLElement>("[data-signal-id]")].find((el) => el.offsetTop + el.offsetHeight > top);
    const id = anchor?.dataset.signalId;
    const offset = anchor ? anchor.offsetTop - top : 0;
    await change();
    queueMicrotask(() => {
      const again = id && scroller.querySelector<HTMLElement>(`[data-signal-id="${id}"]`);
      if (again) scroller.scrollTop = again.offsetTop - offset;
    });
  }

  // Whom my newest read message was seen by.
  const seen = createMemo(() => {
    const me = state.me?.id;
    const items = timeline()?.items ?? [];
    const mine = [...items].reverse().find((x) => x.author_id === me && !x.pending && !x.deleted);
    if (!mine) return { id: null as string | null, by: [] as string[] };
    const by = (state.members[props.chatId] ?? [])
      .filter((m) => m.user_id !== me && m.read_up_to && cmpId(m.read_up_to, mine.id) >= 0)
      .map((m) => m.user_id);
    return { id: mine.id, by };
  });

  const actions = {
    reply: (entry: Entry) => composer?.reply(entry),
    edit: (entry: Entry) => composer?.edit(entry),
    remove: (entry: Entry) => {
      if (confirm("Delete this message for everyone?")) remove(props.chatId, entry.id).catch(fail);
    },
  };

  const typers = () => typingIn(props.chatId, now());

  return (
    <section
      class={`chat ${dragging() ? "dragging" : ""}`}
      aria-labelledby="chat-title"
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes("Files")) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(e) => e.currentTarget === e.target && setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        if (e.dataTransfer?.files.length) composer?.attach(e.dataTransfer.files);
      }}
    >
      <header class="chat-header">
        <h2 id="chat-title">{chat() ? chatTitle(chat()!) : ""}</h2>
        <span class="hint">{(state.members[props.chatId] ?? []).length} members</span>
        <Show when={peerStatus()}>
          <span class="status-text">{peerStatus()}</span>
        </Show>
        <button type="button" class="push-right" disabled={!!call.active} onClick={() => startCall(props.chatId, "audio").catch(fail)}>
          Call
        </button>
        <button type="button" disabled={!!call.active} onClick={() => startCall(props.chatId, "video").catch(fail)}>
          Video call
        </button>
        <button type="button" onClick={() => setShowFiles(true)}>
          All files
        </button>
        <button type="button" onClick={() => setShowSettings(true)}>
          {chat()?.kind === "group" ? "People and settings" : "Settings"}
        </button>
      </header>
      <Show when={showSettings()}>
        <ChatSettings chatId={props.chatId} onClose={() => setShowSettings(false)} onLeft={props.onLeft} />
      </Show>
      <Show when={showFiles()}>
        <ChatFiles chatId={props.chatId} onClose={() => setShowFiles(false)} />
      </Show>
      <div class="scroller" ref={scroller} onScroll={() => (stick = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 40)}>
        <div ref={sentinel} class="sentinel">
          <Show when={timeline()?.loading}>
            <p class="hint" role="status">Loading…</p>
          </Show>
          <Show when={timeline() && !timeline()!.hasOlder && !timeline()!.loading}>
            <p class="hint">This is the beginning of the chat.</p>
          </Show>
        </div>
        <div role="log" aria-label="Messages">
        <ol class="timeline">
          <For each={timeline()?.items ?? []}>
            {(entry, i) => (
              <>
                <Show when={i() === 0 || day(timeline()!.items[i() - 1].created_at) !== day(entry.created_at)}>
                  <li class="day">
                    {day(entry.created_at)}
                  </li>
                </Show>
                <Show when={entry.id === firstUnread() && readMark}>
                  <li class="unread-line" id="first-unread">
                    New messages
                  </li>
                </Show>
                <Message entry={entry} actions={actions} seenBy={seen().id === entry.id ? seen().by : []} />
              </>
            )}
          </For>
        </ol>
        </div>
        <div ref={bottom} class="sentinel" />
        <Show when={timeline()?.hasNewer}>
          <button
            type="button"
            class="jump"
            onClick={() => {
              stick = true;
              loadTimeline(props.chatId).catch(fail);
            }}
          >
            Jump to latest
          </button>
        </Show>
      </div>
      <Show when={unreadNotLoaded()}>
        <button type="button" class="jump-unread" onClick={() => jump(readMark!, firstUnread).catch(fail)}>
          Jump to first unread
        </button>
      </Show>
      <p class="typing" aria-live="polite">
        <Show when={typers().length > 0}>
          {typers().map(nameOf).join(", ")} {typers().length > 1 ? "are" : "is"} typing…
        </Show>
      </p>
      <Alert message={error()} />
      <Composer
        chatId={props.chatId}
        ref={(handle) => (composer = handle)}
        onSent={() => (stick = true)}
        onError={setError}
      />
    </section>
  );
}
