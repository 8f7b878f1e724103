// The typed API client: openapi-fetch over the types generated from the server's OpenAPI
// document (schema.d.ts), so a call the API does not have, or a field it does not send,
// fails the type check. Every answer goes through `unwrap`: a problem document (RFC 9457)
// becomes an `ApiError` carrying its stable `code`.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Chat = Schemas["ChatOut"];
export type Signal = Schemas["SignalOut"];
export type User = Schemas["UserOut"];
export type Member = Schemas["MemberOut"];
export type Presence = Schemas["PresenceOut"];
export type EventData = Schemas["EventData"];
export type Problem = Schemas["Problem"];
export type Attachment = Schemas["AttachmentOut"];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

let token: string | null = null;
let onUnauthenticated: () => void = () => {};

/** Sets the bearer token of every call, and what to do when the server no longer takes it. */
export function authenticate(next: string | null, expired: () => void = () => {}) {
  token = next;
  onUnauthenticated = expired;
}

/** The `Authorization` header of the session (for requests openapi-fetch cannot make). */
export const bearer = (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set("authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && token) onUnauthenticated();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "http://petit-chat.test" });
api.use(auth);

/** The body of a successful answer, or throws the answer's problem as an `ApiError`. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result;
  try {
    result = await call;
  } catch {
    throw new ApiError(0, "offline", "The server cannot be reached.");
  }
  if (result.error !== undefined || !result.response.ok) {
    const problem = result.error as Partial<Problem> | undefined;
    throw new ApiError(
      result.response.status,
      problem?.code ?? "http_" + result.response.status,
      problem?.detail ?? problem?.title ?? result.response.statusText,
    );
  }
  return result.data as T;
}

/** A client-chosen id of one send, so a retry never posts twice (works on plain http too). */
export function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
