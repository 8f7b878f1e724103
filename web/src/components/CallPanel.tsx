import { createEffect, For, Show } from "solid-js";
import { answer, call, decline, hangUp, localStream, toggleCamera, toggleMute } from "../calls";
import { chatTitle, nameOf, state } from "../state";
import { messageOf } from "./ui";

function Video(props: { stream: MediaStream | null; muted?: boolean; label: string }) {
  let el!: HTMLVideoElement;
  createEffect(() => {
    el.srcObject = props.stream;
  });
  return <video ref={el} autoplay playsinline muted={props.muted} aria-label={props.label} />;
}

/** Incoming calls (answer or decline) and the call I am in (video, mute, camera, hang up). */
export function CallPanel(props: { onError: (message: string) => void }) {
  const fail = (e: unknown) => props.onError(messageOf(e));
  const phaseText = () => {
    const a = call.active!;
    if (a.phase === "connected") return a.route === "relayed" ? "Connected (relayed)" : a.route === "direct" ? "Connected (direct)" : "Connected";
    return { ringing: "Ringing…", connecting: "Connecting…", reconnecting: "Reconnecting…" }[a.phase];
  };
  return (
    <>
      <For each={call.ringing}>
        {(r) => (
          <div class="ringing" role="alertdialog" aria-labelledby={`ring-${r.id}`}>
            <p id={`ring-${r.id}`}>
              📞 {nameOf(r.from)} is calling{r.media === "video" ? " (video)" : ""}
              {state.chats[r.chatId]?.kind === "group" ? ` in ${chatTitle(state.chats[r.chatId])}` : ""}
            </p>
            <button type="button" class="primary" onClick={() => answer(r).catch(fail)}>
              Answer
            </button>
            <button type="button" class="danger" onClick={() => decline(r).catch(fail)}>
              Decline
            </button>
          </div>
        )}
      </For>
      <Show when={call.active}>
        <section class="call" aria-label="Call">
          <p class="call-state" role="status">
            {phaseText()}
          </p>
          <div class="videos">
            <For each={Object.entries(call.active!.remotes)}>{([userId, stream]) => <Video stream={stream} label={`Video of ${nameOf(userId)}`} />}</For>
            <Show when={call.active!.media === "video"}>
              <Video stream={localStream()} muted label="Your video" />
            </Show>
          </div>
          <div class="row">
            <button type="button" aria-pressed={call.active!.muted} onClick={toggleMute}>
              {call.active!.muted ? "Unmute" : "Mute"}
            </button>
            <Show when={call.active!.media === "video"}>
              <button type="button" aria-pressed={call.active!.cameraOff} onClick={toggleCamera}>
                {call.active!.cameraOff ? "Camera on" : "Camera off"}
              </button>
            </Show>
            <button type="button" class="danger" onClick={() => hangUp().catch(fail)}>
              Hang up
            </button>
          </div>
        </section>
      </Show>
    </>
  );
}
