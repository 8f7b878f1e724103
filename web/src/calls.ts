// Calls in the browser: peer-to-peer WebRTC, one RTCPeerConnection per other participant
// (a mesh: calls are small), signalled through the server (`POST /calls/{id}/signal`
// out, `call.signal` events in). Whoever joins offers to everyone already in the call;
// the others answer. ICE servers (and whether to relay only) come from
// `/calls/ice-servers`. Ringing is the call signal's `signal.created`; its updates say
// when the call ends.
import { createSignal } from "solid-js";
import { createStore, produce } from "solid-js/store";
import { api, unwrap, type Schemas, type Signal } from "./api/client";
import { state } from "./state";

type Media = Schemas["CallMediaWire"];
type SignalKind = Schemas["CallSignalKindWire"];

export interface ActiveCall {
  id: string;
  chatId: string;
  media: Media;
  /** Waiting for someone to answer, or in the call. */
  phase: "ringing" | "connecting" | "connected" | "reconnecting";
  /** How media flows once connected: straight between browsers, or through TURN. */
  route: "direct" | "relayed" | null;
  muted: boolean;
  cameraOff: boolean;
  remotes: Record<string, MediaStream>;
}

export interface Ringing {
  id: string;
  chatId: string;
  from: string;
  media: Media;
}

const [call, setCall] = createStore<{ active: ActiveCall | null; ringing: Ringing[] }>({ active: null, ringing: [] });
export { call };
const [localStream, setLocalStream] = createSignal<MediaStream | null>(null);
export { localStream };

interface Peer {
  pc: RTCPeerConnection;
  /** Sends to this peer in order (an offer before its candidates). */
  queue: Promise<unknown>;
  /** Candidates that came before the remote description. */
  early: RTCIceCandidateInit[];
}

const peers = new Map<string, Peer>();
let ice: RTCConfiguration = {};

async function iceConfig(): Promise<RTCConfiguration> {
  const out = await unwrap(api.GET("/api/v1/calls/ice-servers"));
  return {
    iceServers: out.ice_servers.map((s) => ({ urls: s.urls, username: s.username ?? undefined, credential: s.credential ?? undefined })),
    iceTransportPolicy: out.relay_only ? "relay" : "all",
  };
}

async function media(kind: Media): Promise<MediaStream> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: kind === "video" });
  setLocalStream(stream);
  return stream;
}

/** Starts a call in a chat: my camera/microphone first, then it rings the others. */
export async function startCall(chatId: string, kind: Media): Promise<void> {
  if (call.active) throw new Error("You are already in a call.");
  ice = await iceConfig();
  await media(kind);
  try {
    const out = await unwrap(api.POST("/api/v1/chats/{chat_id}/calls", { params: { path: { chat_id: chatId } }, body: { media: kind } }));
    setCall("active", { id: out.id, chatId, media: kind, phase: "ringing", route: null, muted: false, cameraOff: false, remotes: {} });
  } catch (e) {
    stopMedia();
    throw e;
  }
}

/** Answers a ringing call: joins it and offers to everyone already in it. */
export async function answer(ringing: Ringing): Promise<void> {
  if (call.active) await hangUp();
  ice = await iceConfig();
  await media(ringing.media);
  setCall("ringing", (r) => r.filter((x) => x.id !== ringing.id));
  try {
    const out = await unwrap(api.POST("/api/v1/calls/{call_id}/join", { params: { path: { call_id: ringing.id } } }));
    setCall("active", { id: out.id, chatId: ringing.chatId, media: ringing.media, phase: "connecting", route: null, muted: false, cameraOff: false, remotes: {} });
    for (const other of out.participants.filter((p) => p !== state.me?.id)) await offerTo(other);
  } catch (e) {
    cleanUp();
    throw e;
  }
}

export async function decline(ringing: Ringing): Promise<void> {
  setCall("ringing", (r) => r.filter((x) => x.id !== ringing.id));
  await unwrap(api.POST("/api/v1/calls/{call_id}/decline", { params: { path: { call_id: ringing.id } } })).catch(() => {});
}

export async function hangUp(): Promise<void> {
  const active = call.active;
  if (!active) return;
  for (const to of peers.keys()) void send(to, "hangup", {});
  cleanUp();
  await unwrap(api.POST("/api/v1/calls/{call_id}/leave", { params: { path: { call_id: active.id } } })).catch(() => {});
}

export function toggleMute() {
  const muted = !call.active?.muted;
  localStream()?.getAudioTracks().forEach((t) => (t.enabled = !muted));
  setCall("active", "muted", muted);
}

export function toggleCamera() {
  const off = !call.active?.cameraOff;
  localStream()?.getVideoTracks().forEach((t) => (t.enabled = !off));
  setCall("active", "cameraOff", off);
}

function stopMedia() {
  localStream()?.getTracks().forEach((t) => t.stop());
  setLocalStream(null);
}

function cleanUp() {
  for (const peer of peers.values()) peer.pc.close();
  peers.clear();
  stopMedia();
  setCall("active", null);
}

function send(to: string, type: SignalKind, data: object): Promise<unknown> {
  const active = call.active;
  const peer = peers.get(to);
  const post = () =>
    active
      ? unwrap(api.POST("/api/v1/calls/{call_id}/signal", { params: { path: { call_id: active.id } }, body: { to, type, data: data as Record<string, never> } }))
      : Promise.resolve();
  if (!peer) return post();
  peer.queue = peer.queue.then(post, post);
  return peer.queue;
}

function peer(userId: string): Peer {
  let p = peers.get(userId);
  if (p) return p;
  const pc = new RTCPeerConnection(ice);
  p = { pc, queue: Promise.resolve(), early: [] };
  peers.set(userId, p);
  for (const track of localStream()?.getTracks() ?? []) pc.addTrack(track, localStream()!);
  pc.onicecandidate = (e) => e.candidate && void send(userId, "candidate", e.candidate.toJSON());
  pc.ontrack = (e) => setCall("active", "remotes", userId, e.streams[0] ?? new MediaStream([e.track]));
  pc.onconnectionstatechange = () => {
    if (!call.active) return;
    if (pc.connectionState === "connected") {
      setCall("active", "phase", "connected");
      void route(pc);
    } else if (pc.connectionState === "disconnected" || pc.connectionState === "failed") {
      setCall("active", "phase", "reconnecting");
    }
  };
  return p;
}

/** Whether the selected candidate pair goes through a TURN relay. */
async function route(pc: RTCPeerConnection) {
  const stats = await pc.getStats();
  let pairId: string | undefined;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId ? stats.get(pairId) : undefined;
  const local = pair ? stats.get(pair.localCandidateId) : undefined;
  const remote = pair ? stats.get(pair.remoteCandidateId) : undefined;
  if (call.active) setCall("active", "route", local?.candidateType === "relay" || remote?.candidateType === "relay" ? "relayed" : "direct");
}

async function offerTo(userId: string) {
  const { pc } = peer(userId);
  await pc.setLocalDescription(await pc.createOffer());
  await send(userId, "offer", pc.localDescription!.toJSON());
}

/** A `call.signal` event: an offer, an answer, a candidate or a hang-up from another participant. */
export async function onCallSignal(event: { call_id: string; from: string; signal_type: SignalKind; data: unknown }) {
  if (!call.active || call.active.id !== event.call_id) return;
  const data = event.data as RTCSessionDescriptionInit & RTCIceCandidateInit;
  switch (event.signal_type) {
    case "offer": {
      const p = peer(event.from);
      await p.pc.setRemoteDescription(data);
      await flushEarly(p);
      await p.pc.setLocalDescription(await p.pc.createAnswer());
      await send(event.from, "answer", p.pc.localDescription!.toJSON());
      if (call.active.phase === "ringing") setCall("active", "phase", "connecting");
      break;
    }
    case "answer": {
      const p = peers.get(event.from);
      if (!p) return;
      await p.pc.setRemoteDescription(data);
      await flushEarly(p);
      break;
    }
    case "candidate": {
      const p = peer(event.from);
      if (p.pc.remoteDescription) await p.pc.addIceCandidate(data).catch(() => {});
      else p.early.push(data);
      break;
    }
    case "hangup":
      dropPeer(event.from);
      break;
  }
}

async function flushEarly(p: Peer) {
  for (const candidate of p.early.splice(0)) await p.pc.addIceCandidate(candidate).catch(() => {});
}

function dropPeer(userId: string) {
  peers.get(userId)?.pc.close();
  peers.delete(userId);
  setCall("active", "remotes", produce((r) => delete r[userId]));
}

/** A call signal appeared or changed in a timeline: ringing, answered elsewhere, ended. */
export function onCallTimeline(signal: Signal) {
  const summary = signal.call;
  if (signal.kind !== "call" || !summary) return;
  const me = state.me?.id;
  if (summary.state === "ringing" && signal.author_id !== me && !call.ringing.some((r) => r.id === signal.id) && call.active?.id !== signal.id) {
    setCall("ringing", (r) => [...r, { id: signal.id, chatId: signal.chat_id, from: signal.author_id, media: summary.media }]);
  }
  if (summary.state !== "ringing") setCall("ringing", (r) => r.filter((x) => x.id !== signal.id));
  if (call.active?.id === signal.id) {
    if (summary.state === "ended") cleanUp();
    else if (summary.state === "ongoing" && call.active.phase === "ringing") setCall("active", "phase", "connecting");
  }
}
