import { createResource, createSignal, For, Show } from "solid-js";
import { api, unwrap, type Schemas, type User } from "../api/client";
import { PeoplePicker } from "./PeoplePicker";
import { loadChatDetails, nameOf, state } from "../state";
import { Alert, messageOf, openModal } from "./ui";

type Level = Schemas["NotifyLevelWire"];
type Role = Schemas["RoleWire"];

const MUTES: [string, number | null][] = [
  ["Not muted", null],
  ["1 hour", 3600],
  ["8 hours", 8 * 3600],
  ["1 day", 24 * 3600],
  ["1 week", 7 * 24 * 3600],
];

/** A chat's people (add, remove, leave; roles) and my notification settings of it. */
export function ChatSettings(props: { chatId: string; onClose: () => void; onLeft: () => void }) {
  let dialog!: HTMLDialogElement;
  const chat = () => state.chats[props.chatId];
  const me = () => state.me?.id;
  const members = () => state.members[props.chatId] ?? [];
  const myRole = () => members().find((m) => m.user_id === me())?.role;
  const manager = () => myRole() === "owner" || myRole() === "admin";
  const group = () => chat()?.kind === "group";
  const [error, setError] = createSignal<string | null>(null);
  const [saved, setSaved] = createSignal<string | null>(null);
  const fail = (e: unknown) => setError(messageOf(e));

  const [settings, { mutate }] = createResource(
    () => props.chatId,
    (chatId) => unwrap(api.GET("/api/v1/chats/{chat_id}/notifications", { params: { path: { chat_id: chatId } } })),
  );

  async function add(user: User) {
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/chats/{chat_id}/members", { params: { path: { chat_id: props.chatId } }, body: { user_ids: [user.id] } }));
      await loadChatDetails(props.chatId);
    } catch (err) {
      fail(err);
    }
  }

  async function removeMember(userId: string) {
    setError(null);
    try {
      await unwrap(api.DELETE("/api/v1/chats/{chat_id}/members/{user_id}", { params: { path: { chat_id: props.chatId, user_id: userId } } }));
      if (userId === me()) {
        dialog.close();
        props.onLeft();
      } else await loadChatDetails(props.chatId);
    } catch (err) {
      fail(err);
    }
  }

  async function changeRole(userId: string, role: Role) {
    setError(null);
    try {
      await unwrap(
        api.PATCH("/api/v1/chats/{chat_id}/members/{user_id}", { params: { path: { chat_id: props.chatId, user_id: userId } }, body: { role } }),
      );
      await loadChatDetails(props.chatId);
    } catch (err) {
      fail(err);
    }
  }

  async function setNotifications(level: Level, muteSecs: number | null) {
    setError(null);
    try {
      const muted_until = muteSecs ? new Date(Date.now() + muteSecs * 1000).toISOString() : null;
      const out = await unwrap(
        api.PUT("/api/v1/chats/{chat_id}/notifications", { params: { path: { chat_id: props.chatId } }, body: { level, muted_until } }),
      );
      mutate(out);
      setSaved("Saved.");
    } catch (err) {
      fail(err);
    }
  }

  return (
    <dialog ref={(el) => { dialog = el; openModal(el); }} aria-labelledby="settings-title" onClose={props.onClose}>
      <h2 id="settings-title">{group() ? "Group" : "Chat"} settings</h2>
      <section aria-labelledby="people-title">
        <h3 id="people-title">People</h3>
        <ul class="people" aria-labelledby="people-title">
          <For each={members()}>
            {(m) => (
              <li>
                <span class={`dot ${state.presence[m.user_id]?.online ? "online" : ""}`} role="img" aria-label={state.presence[m.user_id]?.online ? "online" : "offline"} />{" "}
                {nameOf(m.user_id)}
                {m.user_id === me() ? " (you)" : ""} <span class="hint">{m.role}</span>
                <Show when={group() && m.user_id !== me() && myRole() === "owner"}>
                  <label class="sr-only" for={`role-${m.user_id}`}>
                    Role of {nameOf(m.user_id)}
                  </label>
                  <select id={`role-${m.user_id}`} value={m.role} onChange={(e) => void changeRole(m.user_id, e.currentTarget.value as Role)}>
                    <option value="member">member</option>
                    <option value="admin">admin</option>
                  </select>
                  <button type="button" onClick={() => confirm(`Make ${nameOf(m.user_id)} the owner? You will be an admin.`) && void changeRole(m.user_id, "owner")}>
                    Make {nameOf(m.user_id)} owner
                  </button>
                </Show>
                <Show when={group() && m.user_id !== me() && manager() && m.role !== "owner" && (myRole() === "owner" || m.role === "member")}>
                  <button type="button" onClick={() => void removeMember(m.user_id)}>
                    Remove {nameOf(m.user_id)}
                  </button>
                </Show>
              </li>
            )}
          </For>
        </ul>
        <Show when={group()}>
          <PeoplePicker id="member-username" label="Add someone by username" exclude={members().map((m) => m.user_id)} onPick={(u) => void add(u)} onError={setError} />
        </Show>
      </section>
      <section aria-labelledby="notify-title">
        <h3 id="notify-title">Notifications</h3>
        <Show when={settings()} fallback={<p class="hint">Loading…</p>}>
          <div class="row">
            <div>
              <label for="notify-level">Notify me of</label>
              <select id="notify-level" value={settings()!.level} onChange={(e) => void setNotifications(e.currentTarget.value as Level, null)}>
                <option value="all">every message</option>
                <option value="mentions">mentions and calls only</option>
                <option value="none">nothing</option>
              </select>
            </div>
            <div>
              <label for="notify-mute">Mute for</label>
              <select id="notify-mute" onChange={(e) => void setNotifications(settings()!.level, Number(e.currentTarget.value) || null)}>
                <For each={MUTES}>{([label, secs]) => <option value={secs ?? 0}>{label}</option>}</For>
              </select>
            </div>
          </div>
          <Show when={settings()!.muted_until && new Date(settings()!.muted_until!) > new Date()}>
            <p class="hint">Muted until {new Date(settings()!.muted_until!).toLocaleString()}.</p>
          </Show>
          <p class="hint" role="status">
            {saved()}
          </p>
        </Show>
      </section>
      <Alert message={error()} />
      <div class="row end">
        <Show when={group()}>
          <button type="button" class="danger" onClick={() => confirm("Leave this group?") && void removeMember(me()!)}>
            Leave group
          </button>
        </Show>
        <form method="dialog">
          <button type="submit">Close</button>
        </form>
      </div>
    </dialog>
  );
}
