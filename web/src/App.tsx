import { createEffect, createResource, createSignal, onCleanup, Show } from "solid-js";
import { api, unwrap } from "./api/client";
import { ChatList } from "./components/ChatList";
import { ChatView } from "./components/ChatView";
import { Login } from "./components/Login";
import { NewChat } from "./components/NewChat";
import { Search } from "./components/Search";
import { StatusDialog } from "./components/Status";
import { CallPanel } from "./components/CallPanel";
import { hangUp, onCallSignal, onCallTimeline } from "./calls";
import { NotificationsDialog } from "./components/Notifications";
import { notifyInPage, startNotifications } from "./notify";
import { markRead } from "./actions";
import { Live, liveState } from "./live";
import { completeOidcLogin, oidcLogout, resumeOidc, type AuthConfig } from "./oidc";
import { restore, session, signOut } from "./session";
import { apply, loadChats, loadTimeline, reset, state } from "./state";

const chatFromPath = () => location.pathname.match(/^\/chats\/(\d+)/)?.[1] ?? null;

async function start(): Promise<AuthConfig> {
  const config = await unwrap(api.GET("/api/v1/auth/config"));
  if (config.mode === "oidc" && (await completeOidcLogin(config).catch(() => false))) return config;
  await restore();
  if (config.mode === "oidc") await resumeOidc(config);
  return config;
}

export function App() {
  const [config] = createResource(start);
  return (
    <Show when={config()} fallback={<Show when={config.error} fallback={<p class="hint center">Loading…</p>}><p role="alert" class="error center">The server cannot be reached. Reload to try again.</p></Show>}>
      <Show when={session()?.user.id} fallback={<Login config={config()!} />} keyed>
        {(userId) => <Shell config={config()!} userId={userId} />}
      </Show>
    </Show>
  );
}

/** The signed-in app: chats on the side, the open chat, and the live connection. */
function Shell(props: { config: AuthConfig; userId: string }) {
  const [current, setCurrent] = createSignal<string | null>(chatFromPath());
  const [creating, setCreating] = createSignal(false);
  const [searching, setSearching] = createSignal(false);
  const [focus, setFocus] = createSignal<string | null>(null);
  const [statusOpen, setStatusOpen] = createSignal(false);
  const [callError, setCallError] = createSignal<string | null>(null);
  const [notificationsOpen, setNotificationsOpen] = createSignal(false);
  const myStatus = () => {
    const p = state.presence[props.userId];
    const label = { online: "Online", away: "Away", dnd: "Do not disturb", invisible: "Invisible", offline: "Online" }[p?.availability ?? "online"];
    return p?.text ? `${label}: ${p.text}` : label;
  };
  reset(session()!.user);

  const open = (id: string | null, signalId: string | null = null) => {
    setFocus(signalId);
    setCurrent(id);
    history.pushState(null, "", id ? `/chats/${id}` : "/");
  };
  const onPop = () => setCurrent(chatFromPath());
  window.addEventListener("popstate", onPop);
  const onKey = (e: KeyboardEvent) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
      e.preventDefault();
      setSearching(true);
    }
  };
  window.addEventListener("keydown", onKey);
  onCleanup(() => window.removeEventListener("keydown", onKey));

  const live = new Live(
    (event) => {
      apply(event, document.visibilityState === "visible" ? current() : null, (chatId, id) => void markRead(chatId, id).catch(() => {}));
      if (event.type === "signal.created") void notifyInPage(event.signal).catch(() => {});
      if (event.type === "signal.created" || event.type === "signal.updated") onCallTimeline(event.signal);
      else if (event.type === "call.signal") void onCallSignal(event).catch(() => {});
    },
    (reload) => {
      if (!reload) return;
      // A fresh stream (first, or after a resync): everything again by REST.
      void loadChats().catch(() => {});
      for (const chatId of Object.keys(state.timelines)) void loadTimeline(chatId).catch(() => {});
    },
  );
  live.start();
  startNotifications((chatId, signalId) => open(chatId, signalId));
  onCleanup(() => {
    void hangUp();
    live.stop();
    window.removeEventListener("popstate", onPop);
  });

  // A chat I was removed from (or left on another device) closes.
  createEffect(() => {
    const id = current();
    if (id && state.loaded && !state.chats[id]) open(null);
  });

  const logout = () => (props.config.mode === "oidc" ? void oidcLogout(props.config) : signOut());

  return (
    <div class="app">
      <Show when={liveState() === "offline"}>
        <p class="banner" role="status">
          Offline: reconnecting…
        </p>
      </Show>
      <header class="top">
        <a class="brand" href="/" onClick={(e) => { e.preventDefault(); open(null); }}>
          Petit chat
        </a>
        <button type="button" onClick={() => setNotificationsOpen(true)} aria-haspopup="dialog">
          Notifications
        </button>
        <button type="button" onClick={() => setSearching(true)} aria-keyshortcuts="Control+K">
          Search
        </button>
        <span class="me">
          <button type="button" onClick={() => setStatusOpen(true)} aria-haspopup="dialog">
            {state.me?.display_name} · {myStatus()}
          </button>{" "}
          <button type="button" onClick={logout}>
            Sign out
          </button>
        </span>
      </header>
      <aside class="side" aria-label="Your chats">
        <button class="primary" type="button" onClick={() => setCreating(true)}>
          New chat
        </button>
        <ChatList current={current()} open={open} />
      </aside>
      <main class="main">
        <CallPanel onError={setCallError} />
        <Show when={callError()}>
          <p role="alert" class="error">
            {callError()}
          </p>
        </Show>
        <Show when={current()} keyed fallback={<p class="hint center">Pick a chat, or start one.</p>}>
          {(id) => <ChatView chatId={id} focus={focus()} onLeft={() => open(null)} />}
        </Show>
      </main>
      <Show when={notificationsOpen()}>
        <NotificationsDialog onClose={() => setNotificationsOpen(false)} />
      </Show>
      <Show when={statusOpen()}>
        <StatusDialog onClose={() => setStatusOpen(false)} />
      </Show>
      <Show when={searching()}>
        <Search chatId={current()} onClose={() => setSearching(false)} onPick={(chatId, signalId) => open(chatId, signalId)} />
      </Show>
      <Show when={creating()}>
        <NewChat onClose={() => setCreating(false)} onCreated={(id) => open(id)} />
      </Show>
    </div>
  );
}
