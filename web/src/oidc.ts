// Sign-in through the cluster shape's OpenID Connect provider (Keycloak): Authorization
// Code with PKCE (S256) for the realm's public client, the token renewed silently with
// its refresh token before it expires, and logout at the provider's end-session endpoint.
import { api, authenticate, type Schemas, unwrap } from "./api/client";
import { session, signIn, signOut, type Session } from "./session";

export type AuthConfig = Schemas["AuthConfigOut"];

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in: number;
}

const PENDING = "petit-chat.oidc";

let discovered: Promise<Discovery> | null = null;
function discover(issuer: string): Promise<Discovery> {
  discovered ??= fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`).then((r) => {
    if (!r.ok) throw new Error(`the identity provider answered ${r.status}`);
    return r.json() as Promise<Discovery>;
  });
  return discovered;
}

const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const redirectUri = () => `${location.origin}/`;

export async function oidcLogin(config: AuthConfig): Promise<void> {
  const endpoints = await discover(config.issuer!);
  const verifier = random();
  const state = random();
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, back: location.pathname }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id!,
    redirect_uri: redirectUri(),
    scope: ["openid", ...config.scopes].filter((s, i, all) => all.indexOf(s) === i).join(" "),
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${endpoints.authorization_endpoint}?${query}`);
}

/** Finishes a sign-in when the provider sent the browser back with a code. */
export async function completeOidcLogin(config: AuthConfig): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const pending = sessionStorage.getItem(PENDING);
  if (!code || !pending) return false;
  sessionStorage.removeItem(PENDING);
  const { verifier, state, back } = JSON.parse(pending) as { verifier: string; state: string; back: string };
  history.replaceState(null, "", back || "/");
  if (params.get("state") !== state) throw new Error("The sign-in answer does not match this tab's request.");
  const tokens = await tokenRequest(config, { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: redirectUri() });
  await adopt(config, tokens);
  return true;
}

async function tokenRequest(config: AuthConfig, form: Record<string, string>): Promise<Tokens> {
  const endpoints = await discover(config.issuer!);
  const response = await fetch(endpoints.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.client_id!, ...form }),
  });
  if (!response.ok) throw new Error(`The identity provider refused the sign-in (${response.status}).`);
  return (await response.json()) as Tokens;
}

let renewal: number | undefined;

async function adopt(config: AuthConfig, tokens: Tokens, user?: Session["user"]) {
  // Who this is, asked with the new token before the app switches to it.
  authenticate(tokens.access_token, signOut);
  const me = user ?? (await unwrap(api.GET("/api/v1/me")));
  signIn({
    token: tokens.access_token,
    user: me,
    refresh: tokens.refresh_token,
    idToken: tokens.id_token ?? session()?.idToken,
    expiresAt: Date.now() + tokens.expires_in * 1000,
  });
  scheduleRenewal(config);
}

/** After a reload: renews an expired token at once (if the provider's session lasts), else later. */
export async function resumeOidc(config: AuthConfig): Promise<void> {
  const current = session();
  if (!current?.refresh) return;
  if ((current.expiresAt ?? 0) > Date.now() + 30_000) return scheduleRenewal(config);
  try {
    await adopt(config, await tokenRequest(config, { grant_type: "refresh_token", refresh_token: current.refresh }), current.user);
  } catch {
    signOut();
  }
}

/** Renews the token a little before it expires, as long as the session lasts. */
export function scheduleRenewal(config: AuthConfig) {
  clearTimeout(renewal);
  const current = session();
  if (!current?.refresh || !current.expiresAt) return;
  const wait = Math.max(5_000, current.expiresAt - Date.now() - 30_000);
  renewal = window.setTimeout(async () => {
    const now = session();
    if (!now?.refresh) return;
    try {
      await adopt(config, await tokenRequest(config, { grant_type: "refresh_token", refresh_token: now.refresh }), now.user);
    } catch {
      signOut();
    }
  }, wait);
}

export async function oidcLogout(config: AuthConfig): Promise<void> {
  const idToken = session()?.idToken;
  clearTimeout(renewal);
  signOut();
  const endpoints = await discover(config.issuer!).catch(() => null);
  if (!endpoints?.end_session_endpoint) return;
  const query = new URLSearchParams({ client_id: config.client_id!, post_logout_redirect_uri: redirectUri() });
  if (idToken) query.set("id_token_hint", idToken);
  location.assign(`${endpoints.end_session_endpoint}?${query}`);
}
