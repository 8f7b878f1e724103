import { createSignal, Show } from "solid-js";
import { disablePush, enablePush, permission, pushOn } from "../notify";
import { messageOf, openModal } from "./ui";

/** Notifications on this device: permission, Web Push on or off. */
export function NotificationsDialog(props: { onClose: () => void }) {
  const [message, setMessage] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);
  const run = async (action: () => Promise<void>, done: string) => {
    setBusy(true);
    setMessage(null);
    try {
      await action();
      setMessage(done);
    } catch (e) {
      setMessage(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={openModal} aria-labelledby="notifications-title" onClose={props.onClose}>
      <h2 id="notifications-title">Notifications on this device</h2>
      <p>
        {permission() === "granted"
          ? "This browser may show notifications from Petit chat."
          : permission() === "denied"
            ? "Notifications are blocked for this site in the browser's settings."
            : "This browser has not been asked yet."}
      </p>
      <p class="hint">
        While this page is open in a hidden tab, new messages show as notifications. With push on, they also reach you when no page is open.
      </p>
      <Show
        when={pushOn()}
        fallback={
          <button type="button" class="primary" disabled={busy() || permission() === "denied"} onClick={() => void run(enablePush, "Notifications are on for this device.")}>
            Turn on notifications on this device
          </button>
        }
      >
        <button type="button" disabled={busy()} onClick={() => void run(disablePush, "Push notifications are off for this device.")}>
          Turn off push notifications
        </button>
      </Show>
      <p role="status" class="hint">
        {message()}
      </p>
      <form method="dialog" class="row end">
        <button type="submit">Close</button>
      </form>
    </dialog>
  );
}
