import { createSignal } from "solid-js";
import { api, unwrap, type Schemas } from "../api/client";
import { setState, state } from "../state";
import { Alert, messageOf, openModal } from "./ui";

type Availability = Schemas["AvailabilityWire"];

const CLEAR: [string, number | null][] = [
  ["Don't clear", null],
  ["30 minutes", 1800],
  ["1 hour", 3600],
  ["4 hours", 4 * 3600],
  ["Today (8 hours)", 8 * 3600],
];

/** My availability and status text, optionally cleared after a while. */
export function StatusDialog(props: { onClose: () => void }) {
  let dialog!: HTMLDialogElement;
  const mine = () => (state.me ? state.presence[state.me.id] : undefined);
  const current = mine()?.availability;
  const [availability, setAvailability] = createSignal<Availability>(current && current !== "offline" ? current : "online");
  const [text, setText] = createSignal(mine()?.text ?? "");
  const [clear, setClear] = createSignal<number | null>(null);
  const [error, setError] = createSignal<string | null>(null);

  async function save(e: SubmitEvent) {
    e.preventDefault();
    try {
      const presence = await unwrap(
        api.PUT("/api/v1/me/status", { body: { availability: availability(), text: text().trim() || null, clear_after_secs: clear() } }),
      );
      setState("presence", presence.user_id, presence);
      dialog.close();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <dialog ref={(el) => { dialog = el; openModal(el); }} aria-labelledby="status-title" onClose={props.onClose}>
      <form onSubmit={save}>
        <h2 id="status-title">Your status</h2>
        <fieldset>
          <legend>Show me as</legend>
          {(["online", "away", "dnd", "invisible"] as Availability[]).map((a) => (
            <label>
              <input type="radio" name="availability" checked={availability() === a} onChange={() => setAvailability(a)} />{" "}
              {{ online: "Online", away: "Away", dnd: "Do not disturb", invisible: "Invisible" }[a]}
            </label>
          ))}
        </fieldset>
        <label for="status-text">Status text</label>
        <input id="status-text" maxLength={100} value={text()} onInput={(e) => setText(e.currentTarget.value)} placeholder="In a meeting…" />
        <label for="status-clear">Clear after</label>
        <select id="status-clear" onChange={(e) => setClear(Number(e.currentTarget.value) || null)}>
          {CLEAR.map(([label, secs]) => (
            <option value={secs ?? 0}>{label}</option>
          ))}
        </select>
        <Alert message={error()} />
        <div class="row end">
          <button type="button" onClick={() => dialog.close()}>
            Cancel
          </button>
          <button class="primary" type="submit">
            Save
          </button>
        </div>
      </form>
    </dialog>
  );
}
