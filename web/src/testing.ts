// For unit tests only: answers the API client's requests in process (the server's side is
// tested against the real server by the end-to-end tests), and makes signals.
import { api, type Signal } from "./api/client";

type Handler = (request: Request, body: unknown) => Response | Promise<Response> | undefined;

let handler: Handler = () => undefined;
export const requests: { method: string; path: string; body: unknown }[] = [];

api.use({
  async onRequest({ request }) {
    const body = request.body ? await request.clone().json() : undefined;
    const url = new URL(request.url);
    requests.push({ method: request.method, path: url.pathname + url.search, body });
    const answer = await handler(request, body);
    if (!answer) throw new TypeError("network down");
    return answer;
  },
});

export function answer(next: Handler) {
  handler = next;
  requests.length = 0;
}

export const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": status < 400 ? "application/json" : "application/problem+json" } });

export function signal(id: number, extra: Partial<Signal> = {}): Signal {
  return { id: String(id), chat_id: "7", author_id: "100", kind: "msg", text: `m${id}`, created_at: new Date(id * 1000).toISOString(), reactions: [], ...extra };
}
