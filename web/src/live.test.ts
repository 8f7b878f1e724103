// The live connection: a fresh ticket for every connection, the position resumed after a
// drop, a reload asked for on a fresh stream and on `resync`.
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { answer, json, requests } from "./testing";
import { Live, liveState } from "./live";

/** Stands in for the browser's EventSource: records what was opened, lets the test speak. */
class FakeEventSource {
  static opened: FakeEventSource[] = [];
  listeners = new Map<string, (e: MessageEvent<string>) => void>();
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
  }
  addEventListener(name: string, listener: (e: MessageEvent<string>) => void) {
    this.listeners.set(name, listener);
  }
  close() {
    this.closed = true;
  }
  emit(name: string, data: object, id = "") {
    this.listeners.get(name)?.({ data: JSON.stringify(data), lastEventId: id } as MessageEvent<string>);
  }
}

let tickets = 0;
beforeEach(() => {
  vi.useFakeTimers();
  vi.stubGlobal("EventSource", FakeEventSource);
  FakeEventSource.opened = [];
  answer(() => json(200, { ticket: `t${++tickets}`, expires_in: 30 }));
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const query = (i: number) => Object.fromEntries(new URL(FakeEventSource.opened[i].url, "http://x").searchParams);

test("a dropped stream reopens with a new ticket and resumes after the last event; resync reloads", async () => {
  const events: string[] = [];
  const ready: boolean[] = [];
  const live = new Live(
    (e) => events.push(e.type),
    (reload) => ready.push(reload),
  );
  live.start();
  await vi.waitFor(() => expect(FakeEventSource.opened).toHaveLength(1));
  const first = query(0);
  expect(first.last_event_id).toBeUndefined();
  FakeEventSource.opened[0].emit("ready", { type: "ready", user_id: "1" });
  expect([ready, liveState()]).toEqual([[true], "online"]);
  FakeEventSource.opened[0].emit("signal.created", { type: "signal.created", signal: {} }, "e5");

  FakeEventSource.opened[0].onerror!();
  expect(FakeEventSource.opened[0].closed).toBe(true); // never retried by the browser with a spent ticket
  expect(liveState()).toBe("offline");
  await vi.advanceTimersByTimeAsync(1000);
  await vi.waitFor(() => expect(FakeEventSource.opened).toHaveLength(2));
  const second = query(1);
  expect(second.ticket).not.toBe(first.ticket);
  expect(second.last_event_id).toBe("e5");
  FakeEventSource.opened[1].emit("ready", { type: "ready", user_id: "1" });
  expect(ready).toEqual([true, false]); // resumed: nothing to reload

  FakeEventSource.opened[1].emit("resync", { type: "resync", reason: "gap" });
  expect(ready).toEqual([true, false, true]);
  expect(events).toEqual(["signal.created"]);
  live.stop();
});

test("reconnections back off, up to 30 s", async () => {
  answer(() => undefined); // no ticket: the server cannot be reached
  const live = new Live(() => {}, () => {});
  live.start();
  await vi.advanceTimersByTimeAsync(120_000);
  // 1, 2, 4, 8, 16, 30, 30… s (halved at worst by the jitter): not a retry storm, not silence.
  const attempts = requests.filter((r) => r.path === "/api/v1/events/ticket").length;
  expect(attempts).toBeGreaterThanOrEqual(5);
  expect(attempts).toBeLessThanOrEqual(14);
  expect(FakeEventSource.opened).toHaveLength(0);
  expect(liveState()).toBe("offline");
  live.stop();
});
