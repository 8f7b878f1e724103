import { createSignal, For, Show } from "solid-js";
import { type User } from "../api/client";
import { createChat } from "../actions";
import { state } from "../state";
import { PeoplePicker } from "./PeoplePicker";
import { Alert, messageOf, openModal } from "./ui";

/** A dialog to start a direct chat or a group: people are added by username. */
export function NewChat(props: { onClose: () => void; onCreated: (chatId: string) => void }) {
  let dialog!: HTMLDialogElement;
  const [kind, setKind] = createSignal<"direct" | "group">("direct");
  const [title, setTitle] = createSignal("");
  const [people, setPeople] = createSignal<User[]>([]);
  const [error, setError] = createSignal<string | null>(null);

  const add = (user: User) => {
    setError(null);
    if (!people().some((p) => p.id === user.id)) setPeople(kind() === "direct" ? [user] : [...people(), user]);
  };

  async function submit(e: SubmitEvent) {
    e.preventDefault();
    if (people().length === 0) return setError("Add someone first.");
    try {
      const chat = await createChat(kind(), people().map((p) => p.id), kind() === "group" ? title().trim() : undefined);
      dialog.close();
      props.onCreated(chat.id);
    } catch (e) {
      setError(messageOf(e));
    }
  }

  return (
    <dialog ref={(el) => { dialog = el; openModal(el); }} aria-labelledby="new-chat-title" onClose={props.onClose}>
      <form onSubmit={submit}>
        <h2 id="new-chat-title">New chat</h2>
        <fieldset>
          <legend>Kind</legend>
          <label>
            <input type="radio" name="kind" checked={kind() === "direct"} onChange={() => { setKind("direct"); setPeople(people().slice(0, 1)); }} /> Direct
          </label>
          <label>
            <input type="radio" name="kind" checked={kind() === "group"} onChange={() => setKind("group")} /> Group
          </label>
        </fieldset>
        <Show when={kind() === "group"}>
          <label for="group-title">Group name</label>
          <input id="group-title" required value={title()} onInput={(e) => setTitle(e.currentTarget.value)} />
        </Show>
        <PeoplePicker id="add-username" label="Username" exclude={[state.me?.id ?? ""]} onPick={add} onError={setError} />
        <ul aria-label="People in the new chat" class="people">
          <For each={people()}>
            {(p) => (
              <li>
                {p.display_name} <span class="hint">@{p.username}</span>
                <button type="button" aria-label={`Remove ${p.display_name}`} onClick={() => setPeople(people().filter((q) => q.id !== p.id))}>
                  ×
                </button>
              </li>
            )}
          </For>
        </ul>
        <Alert message={error()} />
        <div class="row end">
          <button type="button" onClick={() => dialog.close()}>
            Cancel
          </button>
          <button class="primary" type="submit">
            Start chat
          </button>
        </div>
      </form>
    </dialog>
  );
}
