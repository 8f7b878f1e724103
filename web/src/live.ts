// The live connection: one EventSource on /api/v1/events, opened with a fresh single-use
// ticket each time (EventSource cannot send an Authorization header). When it drops, it is
// reopened with backoff and `last_event_id`, so the server replays exactly what was
// missed; `resync` (the gap is too old) asks the app to reload by REST. Its state drives
// the offline banner.
import { createSignal } from "solid-js";
import { api, unwrap, type EventData } from "./api/client";

export type LiveState = "connecting" | "online" | "offline";
export type Handler = (event: EventData, id: string | null) => void;

// Every event name the server sends (checked against the API's event type).
const NAMES: Record<EventData["type"], true> = {
  ready: true,
  resync: true,
  "chat.created": true,
  "signal.created": true,
  "signal.updated": true,
  "signal.deleted": true,
  "reaction.changed": true,
  "receipt.updated": true,
  "member.joined": true,
  "member.left": true,
  "member.role_changed": true,
  typing: true,
  "presence.changed": true,
  "call.signal": true,
};

const [state, setState] = createSignal<LiveState>("connecting");
export const liveState = state;

export class Live {
  private source: EventSource | null = null;
  private lastEventId: string | null = null;
  private failures = 0;
  private timer: number | undefined;
  private stopped = false;
  private resuming = false;
  private readonly wake = () => {
    if (state() !== "online") this.reopenSoon(0);
  };
  // The browser lost the network: a stream may hang on a dead connection until TCP gives
  // up, so it is dropped now and retried (the retries wait for `online`).
  private readonly lost = () => {
    if (this.stopped) return;
    this.source?.close();
    this.source = null;
    this.fail();
  };

  constructor(
    private readonly handle: Handler,
    /** The stream is open (`reload`: it did not resume a position), or said `resync` (`reload`). */
    private readonly onReady: (reload: boolean) => void,
  ) {}

  start() {
    globalThis.addEventListener?.("online", this.wake);
    globalThis.addEventListener?.("offline", this.lost);
    void this.open();
  }

  stop() {
    this.stopped = true;
    globalThis.removeEventListener?.("online", this.wake);
    globalThis.removeEventListener?.("offline", this.lost);
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }

  private async open() {
    if (this.stopped) return;
    setState(this.failures > 0 ? "offline" : "connecting");
    let ticket: string;
    try {
      ticket = (await unwrap(api.POST("/api/v1/events/ticket"))).ticket;
    } catch {
      return this.fail();
    }
    if (this.stopped) return;
    const query = new URLSearchParams({ ticket });
    if (this.lastEventId) query.set("last_event_id", this.lastEventId);
    this.resuming = this.lastEventId !== null;
    const source = new EventSource(`/api/v1/events?${query}`);
    this.source = source;
    for (const name of Object.keys(NAMES)) {
      source.addEventListener(name, (message) => this.receive(message as MessageEvent<string>));
    }
    source.onerror = () => {
      // A ticket opens one stream once: never let the browser retry with it.
      source.close();
      if (this.source === source) this.fail();
    };
  }

  private receive(message: MessageEvent<string>) {
    let event: EventData;
    try {
      event = JSON.parse(message.data) as EventData;
    } catch {
      return;
    }
    if (message.lastEventId) this.lastEventId = message.lastEventId;
    if (event.type === "ready") {
      this.failures = 0;
      setState("online");
      this.onReady(!this.resuming);
      return;
    }
    if (event.type === "resync") {
      // Events were missed and cannot be replayed: everything again by REST.
      this.onReady(true);
      return;
    }
    this.handle(event, message.lastEventId || null);
  }

  private fail() {
    this.failures += 1;
    setState("offline");
    // 1 s, 2 s, 4 s … at most 30 s, with jitter so reconnecting clients spread out.
    const base = Math.min(30_000, 1000 * 2 ** Math.min(this.failures - 1, 5));
    this.reopenSoon(base / 2 + Math.random() * (base / 2));
  }

  private reopenSoon(delay: number) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.timer = setTimeout(() => void this.open(), delay) as unknown as number;
  }
}
