// Who is signed in: the token and the user, kept in localStorage so a reload stays signed
// in. The embedded shape signs in by username (the dev login, loopback only); the cluster
// shape through Keycloak (oidc.ts).
import { createSignal } from "solid-js";
import { ApiError, api, authenticate, unwrap, type User } from "./api/client";

export interface Session {
  token: string;
  user: User;
  /** OIDC only: what renews the token before it expires. */
  refresh?: string;
  idToken?: string;
  expiresAt?: number;
}

const KEY = "petit-chat.session";

function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

const [session, setSession] = createSignal<Session | null>(null);
export { session };

export function signIn(next: Session) {
  localStorage.setItem(KEY, JSON.stringify(next));
  authenticate(next.token, signOut);
  setSession(next);
}

export function signOut() {
  localStorage.removeItem(KEY);
  authenticate(null);
  setSession(null);
}

/** Restores the stored session if the server still takes its token. */
export async function restore(): Promise<void> {
  const stored = load();
  if (!stored) return;
  if (stored.refresh && (stored.expiresAt ?? 0) <= Date.now() + 30_000) {
    // An OIDC token that expired while the page was closed: renewed by oidc.ts.
    setSession(stored);
    return;
  }
  authenticate(stored.token, signOut);
  try {
    const user = await unwrap(api.GET("/api/v1/me"));
    signIn({ ...stored, user });
  } catch (e) {
    // Offline is not signed out: the app opens and retries.
    if (e instanceof ApiError && e.code === "offline") signIn(stored);
    else signOut();
  }
}

export async function devLogin(username: string): Promise<void> {
  const out = await unwrap(api.POST("/api/v1/dev/login", { body: { username } }));
  signIn({ token: out.token, user: out.user });
}
