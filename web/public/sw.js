// Petit chat's service worker: shows Web Push notifications (the payload the server
// encrypts for this browser: {type: "message", chat_id, signal_id, title, body, sender,
// unread} or {type: "clear", chat_id}), one per chat (a newer message replaces the shown
// one), and opens the chat when one is clicked.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    return;
  }
  if (message.type === "clear") {
    event.waitUntil(
      self.registration.getNotifications({ tag: message.chat_id }).then((shown) => shown.forEach((n) => n.close())),
    );
    return;
  }
  if (message.type !== "message") return;
  const body = message.body ?? (message.unread > 1 ? `${message.unread} new messages` : "New message");
  event.waitUntil(
    self.registration.showNotification(message.title ?? "Petit chat", {
      body,
      tag: message.chat_id,
      renotify: true,
      icon: "/favicon.svg",
      data: { chat_id: message.chat_id, signal_id: message.signal_id },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const { chat_id: chatId, signal_id: signalId } = event.notification.data ?? {};
  if (!chatId) return;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        open.postMessage({ type: "open", chat_id: chatId, signal_id: signalId });
        return open.focus();
      }
      return self.clients.openWindow(`/chats/${chatId}`);
    }),
  );
});
