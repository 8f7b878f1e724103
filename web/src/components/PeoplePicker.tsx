import { createSignal, For, onCleanup } from "solid-js";
import { api, unwrap, type User } from "../api/client";

/**
 * A combobox that finds people by the start of their username as you type (`GET
 * /users?prefix=`): arrows move through the suggestions, Enter picks one (or the exact
 * username typed), Escape closes them.
 */
export function PeoplePicker(props: { id: string; label: string; exclude: string[]; onPick: (user: User) => void; onError: (message: string) => void }) {
  const [text, setText] = createSignal("");
  const [found, setFound] = createSignal<User[]>([]);
  const [active, setActive] = createSignal(0);
  const [open, setOpen] = createSignal(false);
  let timer: number | undefined;
  let asked = 0;
  onCleanup(() => clearTimeout(timer));

  const options = () => found().filter((u) => !props.exclude.includes(u.id));

  function lookUp(value: string) {
    clearTimeout(timer);
    const prefix = value.trim().toLowerCase();
    if (!prefix) {
      setFound([]);
      setOpen(false);
      return;
    }
    timer = window.setTimeout(async () => {
      const mine = ++asked;
      try {
        const page = await unwrap(api.GET("/api/v1/users", { params: { query: { prefix, limit: 8 } } }));
        if (mine !== asked) return; // an older answer than what is typed now
        setFound(page.items);
        setActive(0);
        setOpen(true);
      } catch {
        /* keep the last suggestions */
      }
    }, 150);
  }

  async function pick(user?: User) {
    let chosen = user;
    if (!chosen) {
      const name = text().trim().toLowerCase();
      if (!name) return;
      const page = await unwrap(api.GET("/api/v1/users", { params: { query: { username: name } } })).catch(() => null);
      chosen = page?.items[0];
      if (!chosen) return props.onError(`Nobody is called “${name}”.`);
    }
    props.onPick(chosen);
    setText("");
    setFound([]);
    setOpen(false);
  }

  return (
    <div class="picker-box">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        role="combobox"
        autocomplete="off"
        aria-autocomplete="list"
        aria-expanded={open() && options().length > 0}
        aria-controls={`${props.id}-options`}
        aria-activedescendant={open() && options()[active()] ? `${props.id}-${options()[active()].id}` : undefined}
        value={text()}
        onInput={(e) => {
          setText(e.currentTarget.value);
          lookUp(e.currentTarget.value);
        }}
        onKeyDown={(e) => {
          const list = options();
          if ((e.key === "ArrowDown" || e.key === "ArrowUp") && list.length > 0) {
            e.preventDefault();
            setOpen(true);
            setActive((i) => (i + (e.key === "ArrowDown" ? 1 : list.length - 1)) % list.length);
          } else if (e.key === "Enter") {
            e.preventDefault();
            void pick(open() ? list[active()] : undefined);
          } else if (e.key === "Escape" && open()) {
            e.preventDefault();
            e.stopPropagation();
            setOpen(false);
          }
        }}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      <ul id={`${props.id}-options`} role="listbox" aria-label={`${props.label}: suggestions`} class="mention-options" hidden={!open() || options().length === 0}>
        <For each={options()}>
          {(u, i) => (
            <li
              id={`${props.id}-${u.id}`}
              role="option"
              aria-selected={i() === active()}
              onMouseDown={(e) => {
                e.preventDefault();
                void pick(u);
              }}
            >
              {u.display_name} <span class="hint">@{u.username}</span>
            </li>
          )}
        </For>
      </ul>
    </div>
  );
}
