// REST calls of user actions whose result comes back as a live event (or is applied here
// when it answers first): reactions, edits, deletes, reads, typing, new chats.
import { api, nonce, unwrap, type Chat, type Schemas } from "./api/client";
import { replaced, setState, state } from "./state";
import { newer } from "./ids";

const sig = (chatId: string, signalId: string) => ({ path: { chat_id: chatId, signal_id: signalId } });

export async function toggleReaction(chatId: string, signalId: string, emoji: string, mine: boolean) {
  const params = { path: { chat_id: chatId, signal_id: signalId, emoji } };
  const out = mine
    ? await unwrap(api.DELETE("/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", { params }))
    : await unwrap(api.PUT("/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", { params }));
  setState("timelines", chatId, "items", (e) => e.id === signalId && !e.pending, "reactions", (reactions) => {
    const next = { emoji, count: out.count, me: !mine };
    if (out.count <= 0) return reactions.filter((r) => r.emoji !== emoji);
    return reactions.some((r) => r.emoji === emoji) ? reactions.map((r) => (r.emoji === emoji ? next : r)) : [...reactions, next];
  });
}

export async function editText(chatId: string, signalId: string, text: string, mentions: string[], everyone: boolean) {
  const body = { text, mentions, mention_everyone: everyone };
  replaced(await unwrap(api.PATCH("/api/v1/chats/{chat_id}/signals/{signal_id}", { params: sig(chatId, signalId), body })));
}

/** Moves a live location of mine, or (`point` null) stops sharing it. */
export async function moveLocation(chatId: string, signalId: string, point: Schemas["LocationWire"] | null) {
  const body = point ? { location: point } : ({ live: false } as const);
  replaced(await unwrap(api.PATCH("/api/v1/chats/{chat_id}/signals/{signal_id}", { params: sig(chatId, signalId), body })));
}

export async function remove(chatId: string, signalId: string) {
  replaced(await unwrap(api.DELETE("/api/v1/chats/{chat_id}/signals/{signal_id}", { params: sig(chatId, signalId) })));
}

const reading = new Map<string, string>();

/** Moves my read marker to `upTo` (coalesced: one call in flight per chat). */
export async function markRead(chatId: string, upTo: string) {
  const chat = state.chats[chatId];
  if (!chat || !newer(upTo, chat.me?.read_up_to)) return;
  const inFlight = reading.get(chatId);
  if (inFlight && !newer(upTo, inFlight)) return;
  reading.set(chatId, upTo);
  try {
    const out = await unwrap(api.POST("/api/v1/chats/{chat_id}/read", { params: { path: { chat_id: chatId } }, body: { up_to: upTo } }));
    setState("chats", chatId, (c) => ({ me: c.me ? { ...c.me, read_up_to: out.read_up_to } : c.me, unread: out.unread, unread_mentions: out.unread_mentions }));
  } finally {
    if (reading.get(chatId) === upTo) reading.delete(chatId);
  }
}

const lastTyping = new Map<string, number>();

/** Tells the others I am typing, at most every 3 s per chat. */
export function typing(chatId: string) {
  const now = Date.now();
  if (now - (lastTyping.get(chatId) ?? 0) < 3000) return;
  lastTyping.set(chatId, now);
  void api.POST("/api/v1/chats/{chat_id}/typing", { params: { path: { chat_id: chatId } } }).catch(() => {});
}

export async function createChat(kind: "direct" | "group", members: string[], title?: string): Promise<Chat> {
  // A direct chat has no title; a group has one (a blank one is refused: 422 empty_title).
  const body = kind === "group" ? { kind, members, title: title ?? "", nonce: nonce() } : { kind, members };
  const chat = await unwrap(api.POST("/api/v1/chats", { body }));
  setState("chats", chat.id, (old) => ({ ...old, ...chat, members: undefined }));
  if (chat.members) setState("members", chat.id, chat.members);
  return chat;
}
