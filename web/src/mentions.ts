// Mentions in the composer: "@" followed by the start of a member's name offers the
// members (and "everyone" to owners and admins of a group); a picked one is written as
// "@Name" and mentioned if that text is still there when the message is sent.
import { nameOf, state } from "./state";

export interface Candidate {
  id: string; // a user id, or "everyone"
  label: string;
}

/** The "@query" being typed just before the caret, if any. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const m = text.slice(0, caret).match(/(^|\s)@([^\s@]{0,32})$/);
  return m ? { start: caret - m[2].length - 1, query: m[2].toLowerCase() } : null;
}

export function candidates(chatId: string, query: string): Candidate[] {
  const me = state.me?.id;
  const members = state.members[chatId] ?? [];
  const people = members
    .filter((m) => m.user_id !== me)
    .map((m) => ({ id: m.user_id, label: nameOf(m.user_id), username: state.users[m.user_id]?.username ?? "" }))
    .filter((c) => c.label.toLowerCase().startsWith(query) || c.username.startsWith(query))
    .map(({ id, label }) => ({ id, label }));
  const role = members.find((m) => m.user_id === me)?.role;
  const everyone = state.chats[chatId]?.kind === "group" && (role === "owner" || role === "admin") && "everyone".startsWith(query);
  return [...people, ...(everyone ? [{ id: "everyone", label: "everyone" }] : [])].slice(0, 8);
}

/** The mentions a text still carries, of those picked while writing it. */
export function mentionsIn(text: string, picked: Candidate[]): { mentions: string[]; everyone: boolean } {
  const present = picked.filter((c) => text.includes(`@${c.label}`));
  return {
    mentions: [...new Set(present.filter((c) => c.id !== "everyone").map((c) => c.id))],
    everyone: present.some((c) => c.id === "everyone"),
  };
}
