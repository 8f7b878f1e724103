import { createSignal, For } from "solid-js";

/** The emoji offered first; any other can be typed (or pasted) in the field below them. */
const COMMON = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀", "🔥", "✅", "👏", "🤔", "😅", "🙌", "💯", "🚀", "😍", "😎", "🤝", "💡", "☕", "👎", "❌", "➕"];

/** The first emoji of a text (a whole grapheme: flags, skin tones and families stay whole). */
function firstEmoji(text: string): string | null {
  const segments = new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text.trim());
  for (const { segment } of segments) return /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(segment) ? segment : null;
  return null;
}

/** A reaction picker: a grid of common emoji (arrow keys move in it) and a field for any other. */
export function ReactionPicker(props: { onPick: (emoji: string) => void; onClose: () => void }) {
  const [other, setOther] = createSignal("");
  const move = (e: KeyboardEvent) => {
    const buttons = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLButtonElement>("button")];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 6, ArrowUp: -6 }[e.key];
    if (e.key === "Escape") {
      e.preventDefault();
      props.onClose();
    } else if (step && at >= 0) {
      e.preventDefault();
      buttons[(at + step + buttons.length) % buttons.length].focus();
    }
  };
  return (
    <div class="reaction-picker" role="group" aria-label="Pick a reaction" onKeyDown={move}>
      <div class="emoji-grid">
        <For each={COMMON}>
          {(emoji) => (
            <button type="button" aria-label={`React with ${emoji}`} onClick={() => props.onPick(emoji)}>
              {emoji}
            </button>
          )}
        </For>
      </div>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          const emoji = firstEmoji(other());
          if (emoji) props.onPick(emoji);
        }}
      >
        <input aria-label="Another emoji" placeholder="Another emoji" value={other()} onInput={(e) => setOther(e.currentTarget.value)} />
        <button type="submit" disabled={!firstEmoji(other())}>
          Add reaction
        </button>
      </form>
    </div>
  );
}
