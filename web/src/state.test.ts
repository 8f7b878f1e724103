// The client's state: live events merged with pages, and sends retried by nonce.
import { beforeEach, describe, expect, test } from "vitest";
import { answer, json, requests, signal } from "./testing";
import { apply, deliver, loadOlder, loadTimeline, reset, send, setState, state } from "./state";

const ME = { id: "1", username: "me", display_name: "Me", created_at: "2026-01-01T00:00:00Z" };
const ids = () => state.timelines["7"].items.map((e) => e.id);
const ignore = () => {};

beforeEach(() => reset(ME));

describe("live events and pages", () => {
  test("an event that arrives while the first page loads is kept after it, once", async () => {
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    answer(async () => {
      await gate;
      return json(200, { items: [signal(12), signal(11), signal(10)], next_cursor: "c" });
    });
    const loading = loadTimeline("7");
    apply({ type: "signal.created", signal: signal(13) }, null, ignore);
    apply({ type: "signal.created", signal: signal(12) }, null, ignore); // also in the page
    release();
    await loading;
    expect(ids()).toEqual(["10", "11", "12", "13"]);
    expect(state.timelines["7"].hasOlder).toBe(true);
  });

  test("a signal event seen twice (replay after a reconnection) shows once, in id order", async () => {
    answer(() => json(200, { items: [signal(20), signal(10)], next_cursor: null }));
    await loadTimeline("7");
    for (const id of [30, 15, 30, 20]) apply({ type: "signal.created", signal: signal(id) }, null, ignore);
    expect(ids()).toEqual(["10", "15", "20", "30"]);
  });

  test("the chat list's preview never changes a message of the timeline (a browser test found it)", async () => {
    answer(() => json(200, { items: [], next_cursor: null }));
    await loadTimeline("7");
    for (const id of [10, 11, 12]) apply({ type: "signal.created", signal: signal(id) }, null, ignore);
    expect(state.timelines["7"].items.map((e) => e.text)).toEqual(["m10", "m11", "m12"]);
    expect(state.previews["7"]?.text).toBe("m12");
  });

  test("an older page goes before, without the ones already there", async () => {
    answer(() => json(200, { items: [signal(30), signal(20)], next_cursor: "more" }));
    await loadTimeline("7");
    answer(() => json(200, { items: [signal(20), signal(10)], next_cursor: null }));
    await loadOlder("7");
    expect(ids()).toEqual(["10", "20", "30"]);
    expect(requests[0].path).toContain("before=20");
    expect(state.timelines["7"].hasOlder).toBe(false);
  });

  test("an edit keeps the reactions shown; a delete shows the tombstone", async () => {
    answer(() => json(200, { items: [signal(10, { reactions: [{ emoji: "👍", count: 2, me: false }] })], next_cursor: null }));
    await loadTimeline("7");
    apply({ type: "signal.updated", signal: signal(10, { text: "fixed", edited_at: "2026-01-01T00:00:00Z" }) }, null, ignore);
    expect(state.timelines["7"].items[0]).toMatchObject({ text: "fixed", reactions: [{ emoji: "👍", count: 2 }] });
    apply({ type: "signal.deleted", by: "100", signal: signal(10, { text: null, deleted: true }) }, null, ignore);
    expect(state.timelines["7"].items[0]).toMatchObject({ deleted: true, text: null, reactions: [] });
  });

  test("a reaction event sets the count, and mine only for my own change", async () => {
    answer(() => json(200, { items: [signal(10)], next_cursor: null }));
    await loadTimeline("7");
    apply({ type: "reaction.changed", chat_id: "7", signal_id: "10", emoji: "🎉", count: 1, user_id: "1", added: true }, null, ignore);
    apply({ type: "reaction.changed", chat_id: "7", signal_id: "10", emoji: "🎉", count: 2, user_id: "2", added: true }, null, ignore);
    expect(state.timelines["7"].items[0].reactions).toEqual([{ emoji: "🎉", count: 2, me: true }]);
  });
});

describe("sends", () => {
  test("a failed send is retried with the same nonce and shows once", async () => {
    answer(() => json(200, { items: [], next_cursor: null }));
    await loadTimeline("7");
    answer(() => undefined); // the network is down
    await expect(send("7", "hello")).rejects.toThrow();
    const draft = state.timelines["7"].items[0];
    expect(draft.pending).toMatchObject({ failed: true });
    const first = requests.find((r) => r.method === "POST")!.body as { nonce: string };

    answer(() => json(201, signal(40, { author_id: "1", text: "hello" })));
    await deliver("7", draft);
    const retry = requests.find((r) => r.method === "POST")!.body as { nonce: string };
    expect(retry.nonce).toBe(first.nonce);
    expect(state.timelines["7"].items.map((e) => [e.id, !!e.pending])).toEqual([["40", false]]);
  });

  test("my message's event before the answer of its send takes the pending entry's place", async () => {
    answer(() => json(200, { items: [], next_cursor: null }));
    await loadTimeline("7");
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    answer(async () => {
      await gate;
      return json(201, signal(50, { author_id: "1", text: "quick" }));
    });
    const sending = send("7", "quick");
    const nonce = state.timelines["7"].items[0].pending!.nonce;
    apply({ type: "signal.created", signal: signal(50, { author_id: "1", text: "quick" }), nonce }, "7", ignore);
    expect(state.timelines["7"].items.map((e) => e.id)).toEqual(["50"]);
    release();
    await sending;
    expect(state.timelines["7"].items.map((e) => [e.id, !!e.pending])).toEqual([["50", false]]);
  });

  test("my message's event after its send failed (the answer was lost) drops the failed entry: no resend", async () => {
    answer(() => json(200, { items: [], next_cursor: null }));
    await loadTimeline("7");
    answer(() => undefined); // the answer is lost
    await expect(send("7", "landed")).rejects.toThrow();
    const { nonce } = requests.find((r) => r.method === "POST")!.body as { nonce: string };
    expect(state.timelines["7"].items[0].pending).toMatchObject({ nonce, failed: true });
    apply({ type: "signal.created", signal: signal(60, { author_id: "1", text: "another" }), nonce: "not-mine" }, "7", ignore);
    apply({ type: "signal.created", signal: signal(61, { author_id: "1", text: "landed" }), nonce }, "7", ignore);
    expect(state.timelines["7"].items.map((e) => [e.id, !!e.pending])).toEqual([
      ["60", false],
      ["61", false],
    ]);
  });

  test("a message of someone else in the chat I look at is read, elsewhere it counts as unread", async () => {
    const read: string[] = [];
    setState("chats", "7", { id: "7", kind: "group", created_by: "100", created_at: "2026-01-01T00:00:00Z", unread: 0, unread_mentions: 0 });
    apply({ type: "signal.created", signal: signal(60) }, "7", (_, id) => read.push(id));
    apply({ type: "signal.created", signal: signal(61, { mentions: ["1"] }) }, null, ignore);
    expect(read).toEqual(["60"]);
    expect([state.chats["7"].unread, state.chats["7"].unread_mentions]).toEqual([1, 1]);
  });
});
