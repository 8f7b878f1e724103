#!/usr/bin/env python3
"""What unread counts cost "my chats" (issue 14): `GET /api/v1/chats` timed with every chat
holding UNREAD unread messages, then again once everything is read, on one server, side by
side. Standard library only; the server must have the dev login.

    python3 bench/unread.py http://127.0.0.1:8080 [CHATS=50] [UNREAD=100] [ROUNDS=200]
"""
import json
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

BASE = sys.argv[1].rstrip("/") + "/api/v1"
CHATS, UNREAD, ROUNDS = (int(a) for a in (sys.argv[2:5] + ["50", "100", "200"][len(sys.argv[2:5]):]))
TAG = f"{time.time_ns():x}"[-8:]


def call(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def login(name):
    answer = call("POST", "/dev/login", body={"username": f"{name}-{TAG}"})
    return answer["token"], answer["user"]["id"]


def timed_listing(token, rounds):
    times, page = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        page = call("GET", f"/chats?limit={CHATS}", token)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times, page


def summary(times):
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return f"p50 {p(0.50):7.2f} ms   p99 {p(0.99):7.2f} ms   mean {statistics.fmean(times):7.2f} ms"


alice, _ = login("alice")
bob, bob_id = login("bob")
chats = [call("POST", "/chats", alice, {"kind": "group", "title": f"c{i}", "members": [bob_id]})["id"] for i in range(CHATS)]
started = time.perf_counter()
with ThreadPoolExecutor(16) as pool:
    last = list(pool.map(
        lambda chat: [call("POST", f"/chats/{chat}/signals", alice, {"kind": "msg", "text": f"m{n}", "nonce": f"{chat}-{n}"})
                      for n in range(UNREAD)][-1]["id"],
        chats,
    ))
posting = time.perf_counter() - started
print(f"{CHATS} chats x {UNREAD} unread messages posted in {posting:.1f} s ({CHATS * UNREAD / posting:.0f} msgs/s)")

unread_times, page = timed_listing(bob, ROUNDS)
counts = sorted({c["unread"] for c in page["items"]})
assert counts == [UNREAD], f"unread counts {counts}, expected {UNREAD} everywhere"
for chat, up_to in zip(chats, last):
    call("POST", f"/chats/{chat}/read", bob, {"up_to": up_to})
read_times, page = timed_listing(bob, ROUNDS)
assert sorted({c["unread"] for c in page["items"]}) == [0]
print(f"GET /chats?limit={CHATS}, {ROUNDS} rounds each, one client:")
print(f"  {UNREAD:>5} unread in each chat: {summary(unread_times)}")
print(f"      0 unread:              {summary(read_times)}")
print(f"  ratio (unread / read), p50: {unread_times[len(unread_times) // 2] / read_times[len(read_times) // 2]:.2f}x")
