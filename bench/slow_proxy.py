#!/usr/bin/env python3
"""An HTTP proxy that adds a delay to some requests: an OpenSearch (or any HTTP service)
that answers as a slower one would, for a benchmark of what its round trips cost.

    python3 bench/slow_proxy.py --listen 127.0.0.1:9201 --upstream http://127.0.0.1:9200 \
        --delay-ms 300 --only /_bulk

Requests whose path contains `--only` (every request without it) wait `--delay-ms` before
they are forwarded; the rest pass at once. Standard library only; one thread per client
connection, keep-alive on both sides.
"""

import argparse
import http.client
import http.server
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:9201")
    parser.add_argument("--upstream", default="http://127.0.0.1:9200")
    parser.add_argument("--delay-ms", type=int, default=300)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def forward(self):
            if args.only in self.path:
                time.sleep(args.delay_ms / 1000)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            for attempt in range(2):
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    local.conn = None
                    if attempt:
                        raise
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"slow proxy on {args.listen} -> {args.upstream}, +{args.delay_ms} ms on paths with {args.only!r}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
