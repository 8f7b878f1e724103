// Notifications on this device: the service worker (public/sw.js) that shows Web Push
// notifications, the opt-in that subscribes this browser with the server's VAPID key and
// registers it as a push target, and in-page notifications of messages while the tab is
// hidden (tagged by chat like the pushed ones, so one replaces the other, never both).
import { createSignal } from "solid-js";
import { api, ApiError, unwrap, type Signal } from "./api/client";
import { cmpId } from "./ids";
import { chatTitle, nameOf, state } from "./state";

const TARGET = "petit-chat.push-target";
const supported = () => "serviceWorker" in navigator && "Notification" in window;

let registration: Promise<ServiceWorkerRegistration | null> = Promise.resolve(null);
const [permission, setPermission] = createSignal<NotificationPermission>(supported() ? Notification.permission : "denied");
export { permission };
const [pushOn, setPushOn] = createSignal(!!localStorage.getItem(TARGET));
export { pushOn };

/** Registers the service worker; `open` is called when a notification is clicked. */
export function startNotifications(open: (chatId: string, signalId: string | null) => void) {
  if (!supported()) return;
  registration = navigator.serviceWorker
    .register("/sw.js")
    .then(() => navigator.serviceWorker.ready)
    .catch(() => null);
  navigator.serviceWorker.addEventListener("message", (e: MessageEvent<{ type?: string; chat_id?: string; signal_id?: string }>) => {
    if (e.data?.type === "open" && e.data.chat_id) open(e.data.chat_id, e.data.signal_id ?? null);
  });
}

/** Asks for permission, subscribes this browser to pushes and tells the server. */
export async function enablePush(): Promise<void> {
  if (!supported() || !("PushManager" in window)) throw new Error("This browser cannot receive notifications.");
  const answer = await Notification.requestPermission();
  setPermission(answer);
  if (answer !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
  const reg = await registration;
  if (!reg) throw new Error("The notification worker could not start.");
  const { public_key } = await unwrap(api.GET("/api/v1/push/vapid-public-key"));
  let subscription: PushSubscription;
  try {
    subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(public_key) });
  } catch (e) {
    throw new Error(`This browser's push service cannot be reached (${e instanceof Error ? e.message : String(e)}). Messages still show here while this page is open.`);
  }
  const json = subscription.toJSON();
  const target = await unwrap(
    api.POST("/api/v1/me/push-targets", {
      body: { kind: "webpush", endpoint: json.endpoint!, keys: { p256dh: json.keys!.p256dh, auth: json.keys!.auth } },
    }),
  );
  localStorage.setItem(TARGET, target.id);
  setPushOn(true);
}

export async function disablePush(): Promise<void> {
  const id = localStorage.getItem(TARGET);
  if (id) {
    await unwrap(api.DELETE("/api/v1/me/push-targets/{target_id}", { params: { path: { target_id: id } } })).catch((e) => {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    });
  }
  const reg = await registration;
  await (await reg?.pushManager.getSubscription())?.unsubscribe();
  localStorage.removeItem(TARGET);
  setPushOn(false);
}

let shown: Promise<void> = Promise.resolve();
const newestShown = new Map<string, string>();

/**
 * A new message while this tab is hidden: shown as a notification if its chat's level
 * allows. One at a time, in order, and never an older one over a newer one of its chat.
 */
export function notifyInPage(signal: Signal): Promise<void> {
  shown = shown.then(() => show(signal)).catch(() => {});
  return shown;
}

async function show(signal: Signal): Promise<void> {
  const before = newestShown.get(signal.chat_id);
  if (before && cmpId(before, signal.id) >= 0) return;
  const me = state.me?.id;
  if (!supported() || permission() !== "granted" || document.visibilityState !== "hidden" || signal.author_id === me) return;
  if (signal.kind !== "msg" && signal.kind !== "location" && signal.kind !== "call") return;
  const chat = state.chats[signal.chat_id];
  const settings = chat?.notifications;
  if (!chat || (settings?.muted_until && new Date(settings.muted_until) > new Date())) return;
  const mentioned = signal.mention_everyone || (signal.mentions ?? []).includes(me ?? "") || signal.kind === "call";
  if (settings?.level === "none" || (settings?.level === "mentions" && !mentioned)) return;
  const sender = nameOf(signal.author_id);
  const what = signal.kind === "location" ? "shared a location" : signal.kind === "call" ? "is calling" : signal.text || "sent a file";
  const options = { body: chat.kind === "group" ? `${sender}: ${what}` : what, tag: chat.id, renotify: true, icon: "/favicon.svg", data: { chat_id: chat.id, signal_id: signal.id } };
  newestShown.set(signal.chat_id, signal.id);
  const reg = await registration;
  if (reg) await reg.showNotification(chatTitle(chat), options);
  else new Notification(chatTitle(chat), options);
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}
