#!/usr/bin/env python3
"""A Web Push service (RFC 8030) for the notification tests, independent of the server's
code: it verifies each push's VAPID token (RFC 8292: an ES256 JWT for this origin, with
`k=` the key that signed it) with `cryptography`, and decrypts the payload (RFC 8291,
aes128gcm) with `http_ece`, as a browser would, with a subscription key pair it made.

    python webpush_receiver.py          # prints "port <n>" once listening on 127.0.0.1

GET  /subscribe/<name>[?answer=<status>]  a new subscription {endpoint, keys}; pushes to
                                          it are answered <status> (default 201)
POST /push/<name>                         a push
GET  /received/<name>                     what each push carried: headers, the decrypted
                                          JSON, whether the token verified, the answer
"""

import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


SUBSCRIPTIONS = {}  # name -> (private key, auth secret, answer status)
RECEIVED = {}  # name -> [push]
LOCK = threading.Lock()


def check_vapid(header, origin):
    """Why the Authorization header does not hold, or None."""
    if not header or not header.startswith("vapid "):
        return "no vapid authorization"
    params = dict(p.strip().split("=", 1) for p in header[len("vapid "):].split(","))
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        return "t= or k= missing"
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
        head, claims, sig = token.split(".")
        if json.loads(b64d(head)).get("alg") != "ES256":
            return "not ES256"
        raw = b64d(sig)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "bad signature"
    except Exception as e:  # noqa: BLE001 - any malformed token is a refusal
        return f"malformed token: {e}"
    claims = json.loads(b64d(claims))
    if claims.get("aud") != origin:
        return f"aud {claims.get('aud')!r} is not {origin!r}"
    if not (time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600):
        return "exp is not within 24 hours"
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        return "no sub contact"
    return None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "subscribe":
            answer = int(parse_qs(url.query).get("answer", ["201"])[0])
            private = ec.generate_private_key(ec.SECP256R1())
            auth = os.urandom(16)
            with LOCK:
                SUBSCRIPTIONS[parts[1]] = (private, auth, answer)
                RECEIVED[parts[1]] = []
            point = private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            host = self.headers["Host"]
            self.answer(200, {"endpoint": f"http://{host}/push/{parts[1]}", "keys": {"p256dh": b64e(point), "auth": b64e(auth)}})
        elif len(parts) == 2 and parts[0] == "received":
            with LOCK:
                self.answer(200, RECEIVED.get(parts[1], []))
        else:
            self.answer(404)

    def do_POST(self):
        parts = urlparse(self.path).path.strip("/").split("/")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            sub = SUBSCRIPTIONS.get(parts[1]) if len(parts) == 2 and parts[0] == "push" else None
        if sub is None:
            return self.answer(404)
        private, auth, answer = sub
        push = {
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "vapid_error": check_vapid(self.headers.get("Authorization"), f"http://{self.headers['Host']}"),
            "status": answer,
        }
        try:
            if self.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("not aes128gcm")
            push["payload"] = json.loads(http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm"))
        except Exception as e:  # noqa: BLE001 - recorded for the test to see
            push["decrypt_error"] = str(e)
        if push["vapid_error"] or "decrypt_error" in push:
            push["status"] = 400 if "decrypt_error" in push else 401
        with LOCK:
            RECEIVED[parts[1]].append(push)
        self.answer(push["status"])


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
