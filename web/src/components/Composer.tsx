import { createSignal, For, Show } from "solid-js";
import { editText, typing } from "../actions";
import { upload } from "../files";
import { candidates, mentionQuery, mentionsIn, type Candidate } from "../mentions";
import { loadTimeline, nameOf, send, state, type Entry } from "../state";
import { UploadTray, type Upload } from "./Attachments";
import { LocationButton } from "./Location";
import { PaperclipIcon } from "./Icons";
import { messageOf } from "./ui";

/** What the rest of the chat view asks of its composer. */
export interface ComposerHandle {
  reply: (entry: Entry) => void;
  edit: (entry: Entry) => void;
  attach: (files: Iterable<File>) => void;
}

/**
 * Writing a message: text with mentions (autocompleted after "@"), a reply or an edit in
 * progress, files uploading with their progress, and sharing a location.
 */
export function Composer(props: { chatId: string; ref: (handle: ComposerHandle) => void; onSent: () => void; onError: (message: string | null) => void }) {
  const [replyTo, setReplyTo] = createSignal<Entry | null>(null);
  const [editing, setEditing] = createSignal<Entry | null>(null);
  const [text, setText] = createSignal("");
  const [uploads, setUploads] = createSignal<Upload[]>([]);
  const [picked, setPicked] = createSignal<Candidate[]>([]);
  const [query, setQuery] = createSignal<{ start: number; query: string } | null>(null);
  const [active, setActive] = createSignal(0);
  let input!: HTMLTextAreaElement;
  let fileInput!: HTMLInputElement;
  let uploadKey = 0;
  const fail = (e: unknown) => props.onError(messageOf(e));

  const options = () => {
    const q = query();
    return q ? candidates(props.chatId, q.query) : [];
  };

  function attach(files: Iterable<File>) {
    for (const file of files) {
      const key = ++uploadKey;
      const abort = new AbortController();
      const change = (patch: Partial<Upload>) => setUploads((all) => all.map((u) => (u.key === key ? { ...u, ...patch } : u)));
      setUploads((all) => [...all, { key, file, progress: 0, abort }]);
      upload(props.chatId, file, (progress) => change({ progress }), abort.signal)
        .then((attachment) => change({ attachment, progress: 1 }))
        .catch((e) => change({ error: messageOf(e) }));
    }
  }
  const uploading = () => uploads().some((u) => !u.attachment && !u.error);
  const removeUpload = (key: number) => {
    uploads().find((u) => u.key === key)?.abort.abort();
    setUploads((all) => all.filter((u) => u.key !== key));
  };

  const cancel = () => {
    setReplyTo(null);
    if (editing()) setText("");
    setEditing(null);
  };

  props.ref({
    reply: (entry) => {
      setEditing(null);
      setReplyTo(entry);
      input.focus();
    },
    edit: (entry) => {
      setReplyTo(null);
      setEditing(entry);
      setText(entry.text ?? "");
      // What it mentioned stays mentioned while its "@Name" stays in the text.
      setPicked((entry.mentions ?? []).map((id) => ({ id, label: nameOf(id) })).concat(entry.mention_everyone ? [{ id: "everyone", label: "everyone" }] : []));
      input.focus();
    },
    attach,
  });

  function pick(c: Candidate) {
    const q = query();
    if (!q) return;
    const caret = input.selectionStart;
    const next = `${text().slice(0, q.start)}@${c.label} ${text().slice(caret)}`;
    setText(next);
    setPicked((all) => [...all.filter((x) => x.id !== c.id), c]);
    setQuery(null);
    const at = q.start + c.label.length + 2;
    queueMicrotask(() => input.setSelectionRange(at, at));
  }

  async function submit(e?: Event) {
    e?.preventDefault();
    const body = text().trim();
    const files = editing() ? [] : uploads().flatMap((u) => (u.attachment ? [u.attachment] : []));
    if (!body && files.length === 0) return;
    if (uploading()) return props.onError("Wait for the files to finish uploading.");
    props.onError(null);
    if (state.timelines[props.chatId]?.hasNewer) await loadTimeline(props.chatId).catch(fail);
    const edit = editing();
    const { mentions, everyone } = mentionsIn(body, picked());
    setText("");
    setPicked([]);
    if (!edit) setUploads([]);
    props.onSent();
    try {
      if (edit) {
        setEditing(null);
        await editText(props.chatId, edit.id, body, mentions, everyone);
      } else {
        const reply = replyTo();
        setReplyTo(null);
        await send(props.chatId, body, { ...(reply ? { reply_to: reply.id } : {}), attachments: files, mentions, mention_everyone: everyone });
      }
    } catch (err) {
      fail(err);
    }
    input.focus();
  }

  function keydown(e: KeyboardEvent) {
    const list = options();
    if (list.length > 0 && query()) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setActive((i) => (i + (e.key === "ArrowDown" ? 1 : list.length - 1)) % list.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        pick(list[Math.min(active(), list.length - 1)]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setQuery(null);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void submit();
    } else if (e.key === "Escape" && (editing() || replyTo())) {
      cancel();
    } else if (e.key === "ArrowUp" && !text()) {
      const items = state.timelines[props.chatId]?.items ?? [];
      const last = [...items].reverse().find((x) => x.author_id === state.me?.id && x.kind === "msg" && !x.pending && !x.deleted);
      if (last) {
        e.preventDefault();
        setReplyTo(null);
        setEditing(last);
        setText(last.text ?? "");
      }
    }
  }

  return (
    <form class="composer" onSubmit={submit}>
      <Show when={replyTo() || editing()}>
        <p class="composing">
          {editing() ? "Editing your message" : `Replying to ${nameOf(replyTo()!.author_id)}`}{" "}
          <button type="button" onClick={cancel}>
            Cancel
          </button>
        </p>
      </Show>
      <Show when={uploads().length > 0}>
        <UploadTray uploads={uploads()} remove={removeUpload} />
      </Show>
      <Show when={query() && options().length > 0}>
        <ul id="mention-options" class="mention-options" role="listbox" aria-label="People to mention">
          <For each={options()}>
            {(c, i) => (
              <li
                id={`mention-${c.id}`}
                role="option"
                aria-selected={i() === active()}
                onMouseDown={(e) => {
                  e.preventDefault();
                  pick(c);
                }}
              >
                @{c.label}
              </li>
            )}
          </For>
        </ul>
      </Show>
      <div class="row">
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          onChange={(e) => {
            attach(e.currentTarget.files ?? []);
            e.currentTarget.value = "";
          }}
        />
        <button type="button" aria-label="Attach files" disabled={!!editing()} onClick={() => fileInput.click()}>
          <PaperclipIcon />
        </button>
        <LocationButton chatId={props.chatId} disabled={!!editing()} onError={fail} />
        <textarea
          ref={input}
          rows={1}
          aria-label="Message"
          placeholder="Message"
          aria-autocomplete="list"
          aria-controls={query() && options().length > 0 ? "mention-options" : undefined}
          aria-activedescendant={query() && options()[active()] ? `mention-${options()[active()].id}` : undefined}
          value={text()}
          onPaste={(e) => {
            if (e.clipboardData?.files.length && !editing()) {
              e.preventDefault();
              attach(e.clipboardData.files);
            }
          }}
          onInput={(e) => {
            const value = e.currentTarget.value;
            setText(value);
            setQuery(mentionQuery(value, e.currentTarget.selectionStart));
            setActive(0);
            if (value) typing(props.chatId);
          }}
          onKeyDown={keydown}
          onBlur={() => setQuery(null)}
        />
        <button class="primary" type="submit" disabled={uploading()}>
          {editing() ? "Save" : "Send"}
        </button>
      </div>
    </form>
  );
}
