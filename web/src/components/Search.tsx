import { createSignal, For, Show } from "solid-js";
import { api, unwrap, type Schemas } from "../api/client";
import { chatTitle, nameOf, state } from "../state";
import { Alert, messageOf, openModal } from "./ui";

type Hit = Schemas["SearchHitOut"];

/**
 * The server's highlight (HTML-escaped text with `<mark>` around matches) as text and
 * marks, built as DOM nodes: nothing of it is ever parsed as HTML.
 */
export function Highlight(props: { html: string }) {
  const unescape = (s: string) =>
    s.replace(/&(lt|gt|quot|#39|#x27|amp);/g, (_, e: string) => ({ lt: "<", gt: ">", quot: '"', "#39": "'", "#x27": "'", amp: "&" })[e] ?? "");
  const parts = () => props.html.split(/(<mark>.*?<\/mark>)/g).filter(Boolean);
  return (
    <For each={parts()}>
      {(part) => (part.startsWith("<mark>") ? <mark>{unescape(part.slice(6, -7))}</mark> : <>{unescape(part)}</>)}
    </For>
  );
}

/** Search in one chat or in all my chats; picking a result opens it in its chat. */
export function Search(props: { chatId: string | null; onClose: () => void; onPick: (chatId: string, signalId: string) => void }) {
  let dialog!: HTMLDialogElement;
  const [scope, setScope] = createSignal<"chat" | "all">(props.chatId ? "chat" : "all");
  const [query, setQuery] = createSignal("");
  const [hits, setHits] = createSignal<Hit[] | null>(null);
  const [cursor, setCursor] = createSignal<string | null>(null);
  const [error, setError] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);

  async function run(more = false) {
    const q = query().trim();
    if (!q) return;
    setBusy(true);
    setError(null);
    try {
      const query = { q, limit: 20, cursor: more ? (cursor() ?? undefined) : undefined };
      const page =
        scope() === "chat" && props.chatId
          ? await unwrap(api.GET("/api/v1/chats/{chat_id}/search", { params: { path: { chat_id: props.chatId }, query } }))
          : await unwrap(api.GET("/api/v1/search", { params: { query } }));
      setHits([...(more ? (hits() ?? []) : []), ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog class="search" ref={(el) => { dialog = el; openModal(el); }} aria-labelledby="search-title" onClose={props.onClose}>
      <h2 id="search-title">Search</h2>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <div class="row">
          <input type="search" aria-label="Search messages" placeholder="Words, “a phrase”…" value={query()} onInput={(e) => setQuery(e.currentTarget.value)} maxLength={256} />
          <button class="primary" type="submit" disabled={busy()}>
            Search
          </button>
        </div>
        <Show when={props.chatId}>
          <fieldset>
            <legend>Where</legend>
            <label>
              <input type="radio" name="scope" checked={scope() === "chat"} onChange={() => setScope("chat")} /> This chat
            </label>
            <label>
              <input type="radio" name="scope" checked={scope() === "all"} onChange={() => setScope("all")} /> All chats
            </label>
          </fieldset>
        </Show>
      </form>
      <Alert message={error()} />
      <div aria-live="polite">
        <Show when={hits()}>
          <Show when={hits()!.length > 0} fallback={<p class="hint">Nothing found.</p>}>
            <ul class="hits" aria-label="Results">
              <For each={hits()}>
                {(hit) => (
                  <li>
                    <button
                      type="button"
                      class="hit"
                      onClick={() => {
                        dialog.close();
                        props.onPick(hit.chat_id, hit.signal.id);
                      }}
                    >
                      <span class="hint">
                        {state.chats[hit.chat_id] ? chatTitle(state.chats[hit.chat_id]) : ""} · {nameOf(hit.signal.author_id)} ·{" "}
                        {new Date(hit.signal.created_at).toLocaleString()}
                      </span>
                      <span class="hit-text">
                        <Highlight html={hit.highlight} />
                      </span>
                    </button>
                  </li>
                )}
              </For>
            </ul>
            <Show when={cursor()}>
              <button type="button" disabled={busy()} onClick={() => void run(true)}>
                More results
              </button>
            </Show>
          </Show>
        </Show>
      </div>
      <form method="dialog" class="row end">
        <button type="submit">Close</button>
      </form>
    </dialog>
  );
}
