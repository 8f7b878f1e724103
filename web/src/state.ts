// The client's state: chats, their timelines, people, presence and typing, kept in Solid
// stores and changed in one place by REST answers and live events (applied idempotently,
// so an event that arrives before or after the answer it duplicates changes nothing).
import { batch } from "solid-js";
import { createStore, produce, reconcile } from "solid-js/store";
import { api, nonce as newNonce, unwrap, type Attachment, type Chat, type Schemas, type EventData, type Member, type Presence, type Signal, type User } from "./api/client";
import { cmpId, newer } from "./ids";

/** A signal of the timeline, or a message of mine still on its way. */
export interface Entry extends Signal {
  /** Set while my send is not yet stored (its nonce), or after it failed. */
  pending?: { nonce: string; failed: boolean };
}

export interface Timeline {
  items: Entry[]; // oldest first
  hasOlder: boolean;
  /** Loaded around an older signal (a search result): newer signals are not all here. */
  hasNewer: boolean;
  loading: boolean;
}

interface State {
  me: User | null;
  chats: Record<string, Chat>;
  members: Record<string, Member[]>;
  previews: Record<string, Entry | undefined>;
  timelines: Record<string, Timeline>;
  users: Record<string, User>;
  presence: Record<string, Presence>;
  typing: Record<string, Record<string, number>>; // chat → user → until (ms)
  loaded: boolean;
}

export const [state, setState] = createStore<State>({
  me: null,
  chats: {},
  members: {},
  previews: {},
  timelines: {},
  users: {},
  presence: {},
  typing: {},
  loaded: false,
});

const PAGE = 50;
/**
 * At most this many entries of a timeline are kept (and in the page): loading older pages
 * drops the newest ones and the other way round, so scrolling through years of history
 * keeps memory and the DOM bounded (the pages dropped load again when scrolled back to).
 */
const WINDOW = 300;
const asked = new Set<string>();

/** Forgets everything (a new session starts empty). */
export function reset(me: User) {
  asked.clear();
  setState({ me, chats: {}, members: {}, previews: {}, timelines: {}, users: { [me.id]: me }, presence: {}, typing: {}, loaded: false });
}

/** The chats by recent activity. */
export function chatOrder(): Chat[] {
  return Object.values(state.chats).sort((a, b) => cmpId(b.last_activity_id ?? b.id, a.last_activity_id ?? a.id));
}

// --- people ---------------------------------------------------------------------------

/** The user (loaded on first use; undefined until then). */
export function user(id: string): User | undefined {
  const known = state.users[id];
  if (!known && !asked.has(id)) {
    asked.add(id);
    unwrap(api.GET("/api/v1/users/{user_id}", { params: { path: { user_id: id } } }))
      .then((u) => {
        setState("users", u.id, { id: u.id, username: u.username, display_name: u.display_name, created_at: u.created_at });
        setState("presence", u.id, u.presence);
      })
      .catch(() => asked.delete(id));
  }
  return known;
}

export const nameOf = (id: string) => user(id)?.display_name ?? "…";

/** What a chat is called: a group's title, or the other person's name. */
export function chatTitle(chat: Chat): string {
  if (chat.kind === "group") return chat.title ?? "Group";
  const other = (state.members[chat.id] ?? []).find((m) => m.user_id !== state.me?.id);
  return other ? nameOf(other.user_id) : "Direct chat";
}

export function directPeer(chat: Chat): string | undefined {
  if (chat.kind !== "direct") return undefined;
  return (state.members[chat.id] ?? []).find((m) => m.user_id !== state.me?.id)?.user_id;
}

// --- loading --------------------------------------------------------------------------

export async function loadChats(): Promise<void> {
  const chats: Chat[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(api.GET("/api/v1/chats", { params: { query: { limit: 100, cursor } } }));
    chats.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  batch(() => {
    setState("chats", reconcile(Object.fromEntries(chats.map((c) => [c.id, c]))));
    setState("loaded", true);
  });
  await Promise.all(chats.map((c) => loadChatDetails(c.id)));
}

/** A chat's members and its newest signal (the list's preview). */
export async function loadChatDetails(chatId: string): Promise<void> {
  const [chat, newest] = await Promise.all([
    unwrap(api.GET("/api/v1/chats/{chat_id}", { params: { path: { chat_id: chatId } } })),
    unwrap(api.GET("/api/v1/chats/{chat_id}/signals", { params: { path: { chat_id: chatId }, query: { limit: 1 } } })),
  ]);
  batch(() => {
    setState("members", chatId, chat.members ?? []);
    setState("chats", chatId, (old) => ({ ...chat, unread: old?.unread ?? chat.unread, unread_mentions: old?.unread_mentions ?? chat.unread_mentions, members: undefined }));
    if (newest.items[0]) setState("previews", { [chatId]: newest.items[0] });
  });
}

/** The newest page of a chat's timeline (again, after a resync). */
export async function loadTimeline(chatId: string): Promise<void> {
  setState("timelines", chatId, (t) => ({ items: t?.items ?? [], hasOlder: t?.hasOlder ?? true, hasNewer: false, loading: true }));
  try {
    const page = await unwrap(api.GET("/api/v1/chats/{chat_id}/signals", { params: { path: { chat_id: chatId }, query: { limit: PAGE } } }));
    const items = page.items.reverse();
    // Live events that came while the page was on its way are newer than it: kept after it.
    const newest = items[items.length - 1]?.id;
    const current = state.timelines[chatId]?.items ?? [];
    const later = current.filter((e) => !e.pending && (!newest || cmpId(e.id, newest) > 0));
    const pending = current.filter((e) => e.pending);
    setState("timelines", chatId, { items: [...items, ...later, ...pending], hasOlder: !!page.next_cursor, hasNewer: false, loading: false });
  } catch (e) {
    setState("timelines", chatId, "loading", false);
    throw e;
  }
}

/** The signals around one (a search result, the first unread): the timeline jumps there. */
export async function loadAround(chatId: string, signalId: string): Promise<void> {
  if (state.timelines[chatId]?.items.some((e) => e.id === signalId)) return;
  setState("timelines", chatId, (t) => ({ items: t?.items ?? [], hasOlder: true, hasNewer: true, loading: true }));
  try {
    const page = await unwrap(
      api.GET("/api/v1/chats/{chat_id}/signals", { params: { path: { chat_id: chatId }, query: { limit: PAGE, around: signalId } } }),
    );
    const items = page.items.reverse();
    const newest = items[items.length - 1]?.id;
    const latest = state.chats[chatId]?.last_activity_id;
    setState("timelines", chatId, { items, hasOlder: true, hasNewer: !!newest && !!latest && cmpId(newest, latest) < 0, loading: false });
  } catch (e) {
    setState("timelines", chatId, "loading", false);
    throw e;
  }
}

/** The next newer page of a timeline that was loaded around an older signal. */
export async function loadNewer(chatId: string): Promise<void> {
  const t = state.timelines[chatId];
  const newest = t && [...t.items].reverse().find((e) => !e.pending);
  if (!t || t.loading || !t.hasNewer || !newest) return;
  setState("timelines", chatId, "loading", true);
  try {
    const page = await unwrap(
      api.GET("/api/v1/chats/{chat_id}/signals", { params: { path: { chat_id: chatId }, query: { limit: PAGE, after: newest.id } } }),
    );
    const known = new Set(t.items.map((e) => e.id));
    const fresh = page.items.reverse().filter((e) => !known.has(e.id));
    setState("timelines", chatId, (t) => {
      const items = [...t.items, ...fresh];
      const drop = Math.max(0, items.length - WINDOW);
      return { items: items.slice(drop), hasOlder: t.hasOlder || drop > 0, hasNewer: page.items.length >= PAGE, loading: false };
    });
  } catch (e) {
    setState("timelines", chatId, "loading", false);
    throw e;
  }
}

export async function loadOlder(chatId: string): Promise<void> {
  const t = state.timelines[chatId];
  const oldest = t?.items.find((e) => !e.pending);
  if (!t || t.loading || !t.hasOlder || !oldest) return;
  setState("timelines", chatId, "loading", true);
  try {
    const page = await unwrap(
      api.GET("/api/v1/chats/{chat_id}/signals", { params: { path: { chat_id: chatId }, query: { limit: PAGE, before: oldest.id } } }),
    );
    const known = new Set(t.items.map((e) => e.id));
    const fresh = page.items.reverse().filter((e) => !known.has(e.id));
    setState("timelines", chatId, (t) => {
      const stored = [...fresh, ...t.items.filter((e) => !e.pending)];
      const drop = Math.max(0, stored.length - WINDOW);
      if (drop === 0) return { items: [...fresh, ...t.items], hasOlder: !!page.next_cursor, loading: false };
      // The newest ones go (my pending sends stay: they are shown once the window is back).
      return { items: [...stored.slice(0, stored.length - drop), ...t.items.filter((e) => e.pending)], hasOlder: !!page.next_cursor, hasNewer: true, loading: false };
    });
  } catch (e) {
    setState("timelines", chatId, "loading", false);
    throw e;
  }
}

// --- changes of the timeline ------------------------------------------------------------

/** Puts a stored signal in its place (or replaces it), keeping its reactions if asked. */
function upsert(signal: Signal, keepReactions: boolean) {
  const chatId = signal.chat_id;
  if (state.timelines[chatId]) {
    setState(
      "timelines",
      chatId,
      "items",
      produce((items) => {
        const at = items.findIndex((e) => e.id === signal.id && !e.pending);
        if (at >= 0) {
          items[at] = keepReactions ? { ...signal, reactions: items[at].reactions } : signal;
          return;
        }
        let i = items.length;
        while (i > 0 && (items[i - 1].pending || cmpId(items[i - 1].id, signal.id) > 0)) i--;
        // Past the newest loaded one of a timeline with a gap before the present: it is
        // loaded with the pages that follow, not shown after the gap.
        if (i === items.filter((e) => !e.pending).length && state.timelines[chatId].hasNewer) return;
        items.splice(i, 0, signal);
      }),
    );
  }
  // (A copy: a store merges an object set over another, and the timeline holds this one.)
  const preview = state.previews[chatId];
  if (!preview || cmpId(signal.id, preview.id) >= 0) {
    setState("previews", { [chatId]: { ...signal, reactions: keepReactions && preview ? [...preview.reactions] : signal.reactions } });
  }
}

export async function send(
  chatId: string,
  text: string,
  extra: { reply_to?: string; mentions?: string[]; mention_everyone?: boolean; attachments?: Attachment[] } = {},
): Promise<void> {
  const me = state.me!;
  const n = newNonce();
  const draft: Entry = {
    id: `pending-${n}`,
    chat_id: chatId,
    author_id: me.id,
    kind: "msg",
    text,
    created_at: new Date().toISOString(),
    reactions: [],
    reply_to: extra.reply_to ?? null,
    mentions: extra.mentions ?? [],
    mention_everyone: extra.mention_everyone ?? false,
    attachments: extra.attachments ?? [],
    pending: { nonce: n, failed: false },
  };
  setState("timelines", chatId, "items", (items) => [...(items ?? []), draft]);
  await deliver(chatId, draft);
}

/** Sends (or sends again, with the same nonce: never twice) a pending message. */
export async function deliver(chatId: string, draft: Entry): Promise<void> {
  const n = draft.pending!.nonce;
  setPending(chatId, n, false);
  try {
    const signal = await unwrap(
      api.POST("/api/v1/chats/{chat_id}/signals", {
        params: { path: { chat_id: chatId } },
        body: {
          kind: "msg",
          text: draft.text ?? "",
          nonce: n,
          reply_to: draft.reply_to ?? null,
          mentions: draft.mentions ?? [],
          mention_everyone: draft.mention_everyone ?? false,
          attachments: (draft.attachments ?? []).map((a) => a.id),
        },
      }),
    );
    batch(() => {
      setState("timelines", chatId, "items", (items) => items.filter((e) => e.pending?.nonce !== n));
      upsert(signal, true);
      bumpActivity(chatId, signal.id);
    });
  } catch (e) {
    setPending(chatId, n, true);
    throw e;
  }
}

/** Posts a signal other than a text message (a location): no pending entry, shown once stored. */
export async function post(chatId: string, body: Omit<Schemas["SendSignalIn"], "nonce">): Promise<Signal> {
  const signal = await unwrap(api.POST("/api/v1/chats/{chat_id}/signals", { params: { path: { chat_id: chatId } }, body: { ...body, nonce: newNonce() } }));
  batch(() => {
    upsert(signal, true);
    bumpActivity(chatId, signal.id);
  });
  return signal;
}

/** Shows a changed signal of mine (an edit, a moved location, a tombstone) as the server answered it. */
export function replaced(signal: Signal) {
  upsert(signal, !signal.deleted);
}

function setPending(chatId: string, n: string, failed: boolean) {
  setState("timelines", chatId, "items", (e) => e.pending?.nonce === n, "pending", { nonce: n, failed });
}

export function discard(chatId: string, n: string) {
  setState("timelines", chatId, "items", (items) => items.filter((e) => e.pending?.nonce !== n));
}

function bumpActivity(chatId: string, signalId: string) {
  if (state.chats[chatId] && newer(signalId, state.chats[chatId].last_activity_id)) setState("chats", chatId, "last_activity_id", signalId);
}

// --- live events ----------------------------------------------------------------------

/** Applies one live event. `visible`: the chat the user is looking at, if any. */
export function apply(event: EventData, visible: string | null, onMarkRead: (chatId: string, id: string) => void) {
  const me = state.me?.id;
  switch (event.type) {
    case "chat.created":
      setState("chats", event.chat.id, event.chat);
      void loadChatDetails(event.chat.id);
      break;
    case "signal.created": {
      const s = event.signal;
      batch(() => {
        // My own send came back (its event carries my nonce): it takes its pending
        // entry's place, failed or not, so it never shows twice and is not sent again,
        // whether it comes before the send's answer or instead of a lost one.
        if (s.author_id === me && event.nonce) discard(s.chat_id, event.nonce);
        upsert(s, false);
        bumpActivity(s.chat_id, s.id);
        if (state.typing[s.chat_id]?.[s.author_id]) setState("typing", s.chat_id, s.author_id, 0);
        const counts = s.author_id !== me && (s.kind === "msg" || s.kind === "location" || s.kind === "call");
        if (counts && s.chat_id === visible) onMarkRead(s.chat_id, s.id);
        else if (counts && state.chats[s.chat_id]) {
          setState("chats", s.chat_id, "unread", (u) => (u ?? 0) + 1);
          const mentioned = s.mention_everyone || (s.mentions ?? []).includes(me ?? "");
          if (mentioned || s.kind === "call") setState("chats", s.chat_id, "unread_mentions", (u) => (u ?? 0) + 1);
        }
      });
      const iLeft = s.kind === "left" && (s.user_ids ?? []).includes(me ?? "");
      if ((s.kind === "joined" || s.kind === "left") && !iLeft) void loadChatDetails(s.chat_id).catch(() => {});
      break;
    }
    case "signal.updated":
      upsert(event.signal, true);
      break;
    case "signal.deleted":
      upsert(event.signal, false);
      break;
    case "reaction.changed": {
      const { chat_id, signal_id, emoji, count, user_id, added } = event;
      const t = state.timelines[chat_id];
      if (!t) break;
      setState("timelines", chat_id, "items", (e) => e.id === signal_id && !e.pending, "reactions", (reactions) => {
        const old = reactions.find((r) => r.emoji === emoji);
        const next = { emoji, count, me: user_id === me ? added : (old?.me ?? false) };
        if (count <= 0) return reactions.filter((r) => r.emoji !== emoji);
        return old ? reactions.map((r) => (r.emoji === emoji ? next : r)) : [...reactions, next];
      });
      break;
    }
    case "receipt.updated":
      if (event.user_id === me) {
        if (state.chats[event.chat_id]) {
          setState("chats", event.chat_id, (c) => ({
            me: c.me ? { ...c.me, read_up_to: event.read_up_to } : c.me,
            unread: event.unread ?? c.unread,
            unread_mentions: event.unread_mentions ?? c.unread_mentions,
          }));
        }
      } else {
        if (state.members[event.chat_id]) setState("members", event.chat_id, (m) => m.user_id === event.user_id, "read_up_to", event.read_up_to);
      }
      break;
    case "member.joined":
    case "member.left":
      if (event.type === "member.left" && event.user_id === me) {
        setState("chats", event.chat_id, undefined!);
      } else void loadChatDetails(event.chat_id).catch(() => {});
      break;
    case "member.role_changed":
      if (state.members[event.chat_id]) setState("members", event.chat_id, (m) => m.user_id === event.user_id, "role", event.role);
      if (event.user_id === me && state.chats[event.chat_id]?.me) setState("chats", event.chat_id, "me", "role", event.role);
      break;
    case "typing":
      if (event.user_id !== me) setState("typing", event.chat_id, (t) => ({ ...t, [event.user_id]: Date.now() + event.expires_in_ms }));
      break;
    case "presence.changed":
      setState("presence", event.presence.user_id, event.presence);
      break;
    default:
      break;
  }
}

/** Who is typing in a chat now (their ids). */
export function typingIn(chatId: string, now: number): string[] {
  return Object.entries(state.typing[chatId] ?? {})
    .filter(([, until]) => until > now)
    .map(([id]) => id);
}
