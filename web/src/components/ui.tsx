// Small pieces the views share: errors shown in place, modal dialogs.
import { Show } from "solid-js";

/** What went wrong, in words for people (a problem document's detail, or the error's). */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e); // (an ApiError is an Error)
}

/** An error shown where it happened, announced to screen readers. */
export function Alert(props: { message: string | null | undefined }) {
  return (
    <Show when={props.message}>
      <p role="alert" class="error">
        {props.message}
      </p>
    </Show>
  );
}

/** Opens a <dialog> as modal once it is in the page (focus trapped, Escape closes it). */
export function openModal(el: HTMLDialogElement) {
  queueMicrotask(() => el.showModal());
}
