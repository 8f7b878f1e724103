import { createSignal, onCleanup, Show } from "solid-js";
import { type Schemas, type Signal } from "../api/client";
import { moveLocation } from "../actions";
import { post } from "../state";
import { PinIcon } from "./Icons";
import { Alert, messageOf, openModal } from "./ui";

type Point = Schemas["LocationWire"];

const LIVE: [string, number][] = [
  ["Just once", 0],
  ["Live for 15 minutes", 15 * 60],
  ["Live for 1 hour", 3600],
  ["Live for 8 hours", 8 * 3600],
];

/** My live locations being shared from this page: signal id → the position watch. */
const watches = new Map<string, number>();

function here(): Promise<Point> {
  return new Promise((ok, fail) => {
    if (!navigator.geolocation) return fail(new Error("This browser cannot tell where you are."));
    navigator.geolocation.getCurrentPosition(
      (p) => ok({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: Math.min(p.coords.accuracy, 1_000_000) }),
      (e) => fail(new Error(e.code === e.PERMISSION_DENIED ? "Location permission was refused." : "Your location is unknown.")),
      { enableHighAccuracy: true, timeout: 15_000 },
    );
  });
}

/** Follows my position and moves a live location of mine until it ends. */
function follow(signal: Signal, until: number) {
  if (!navigator.geolocation || !signal.location) return;
  let last = { at: Date.now(), lat: signal.location.lat, lon: signal.location.lon };
  let latest: Point | null = null;
  let timer: number | undefined;
  // A move at most every 3 s (the latest position then), and only of 5 m or more.
  const flush = () => {
    timer = undefined;
    if (!latest || !watches.has(signal.id)) return;
    if (Date.now() > until) return stopFollowing(signal.id);
    const wait = last.at + 3000 - Date.now();
    if (wait > 0) {
      timer = window.setTimeout(flush, wait);
      return;
    }
    const point = latest;
    latest = null;
    if (distance(last, point) < 5) return;
    last = { at: Date.now(), lat: point.lat, lon: point.lon };
    // The place keeps its name as it moves.
    void moveLocation(signal.chat_id, signal.id, { ...point, label: signal.location?.label ?? null }).catch(() => stopFollowing(signal.id));
  };
  const id = navigator.geolocation.watchPosition((p) => {
    latest = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: Math.min(p.coords.accuracy, 1_000_000) };
    if (timer === undefined) flush();
  });
  watches.set(signal.id, id);
}

/** Metres between two points (haversine). */
function distance(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const h = Math.sin(((b.lat - a.lat) * rad) / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(((b.lon - a.lon) * rad) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

function stopFollowing(signalId: string) {
  const id = watches.get(signalId);
  if (id !== undefined) navigator.geolocation.clearWatch(id);
  watches.delete(signalId);
}

/** Stops sharing a live location of mine now. */
export async function stopSharing(signal: Signal) {
  stopFollowing(signal.id);
  await moveLocation(signal.chat_id, signal.id, null);
}

/** The composer's "share a location" button and its dialog. */
export function LocationButton(props: { chatId: string; disabled: boolean; onError: (e: unknown) => void }) {
  const [open, setOpen] = createSignal(false);
  return (
    <>
      <button type="button" aria-label="Share a location" disabled={props.disabled} onClick={() => setOpen(true)}>
        <PinIcon />
      </button>
      <Show when={open()}>
        <ShareLocation chatId={props.chatId} onClose={() => setOpen(false)} onError={props.onError} />
      </Show>
    </>
  );
}

function ShareLocation(props: { chatId: string; onClose: () => void; onError: (e: unknown) => void }) {
  let dialog!: HTMLDialogElement;
  const [label, setLabel] = createSignal("");
  const [live, setLive] = createSignal(0);
  const [error, setError] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);
  onCleanup(() => setBusy(false));

  async function share(e: SubmitEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const point = { ...(await here()), label: label().trim() || null };
      const until = live() ? new Date(Date.now() + live() * 1000) : null;
      const signal = await post(props.chatId, { kind: "location", location: point, live_until: until?.toISOString() ?? null });
      if (until) follow(signal, until.getTime());
      dialog.close();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog ref={(el) => { dialog = el; openModal(el); }} aria-labelledby="location-title" onClose={props.onClose}>
      <form onSubmit={share}>
        <h2 id="location-title">Share your location</h2>
        <label for="location-label">Name of the place (optional)</label>
        <input id="location-label" maxLength={200} value={label()} onInput={(e) => setLabel(e.currentTarget.value)} />
        <label for="location-live">How long</label>
        <select id="location-live" onChange={(e) => setLive(Number(e.currentTarget.value))}>
          {LIVE.map(([text, secs]) => (
            <option value={secs}>{text}</option>
          ))}
        </select>
        <Alert message={error()} />
        <div class="row end">
          <button type="button" onClick={() => dialog.close()}>
            Cancel
          </button>
          <button class="primary" type="submit" disabled={busy()}>
            Share
          </button>
        </div>
      </form>
    </dialog>
  );
}
