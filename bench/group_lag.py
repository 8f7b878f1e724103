#!/usr/bin/env python3
"""Each consumer group's lag on the chat log, once a second, while a cluster bench runs.

    python3 bench/group_lag.py MONITOR_URL PREFIX OUT.jsonl [SECONDS]

Reads NATS's monitoring endpoint (`/jsz?consumers=true`) and writes one JSON line per
second: the Unix time and, per group (`fanout`, `notify`, `index`, `thumbnails`), the
events its partitions' consumers have not yet been handed (`num_pending`) plus those
handed out and not yet acknowledged (`num_ack_pending`). A lag that grows through a phase
is a group that does not keep up; one that stays bounded is (issue 10). Stops after
SECONDS (default 1800) or when killed; standard library only.
"""
import json
import sys
import time
import urllib.request


def sample(url, stream):
    with urllib.request.urlopen(f"{url}/jsz?consumers=true&accounts=true", timeout=2) as r:
        jsz = json.load(r)
    lag = {}
    for account in jsz.get("account_details", []):
        for s in account.get("stream_detail", []):
            if s["name"] != stream:
                continue
            for c in s.get("consumer_detail") or []:
                group = c["name"].rsplit("_", 1)[0]
                lag[group] = lag.get(group, 0) + c.get("num_pending", 0) + c.get("num_ack_pending", 0)
    return lag


def main():
    url, prefix, out = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 1800
    stream = f"{prefix.upper()}_CHAT_LOG"
    with open(out, "w") as f:
        for _ in range(seconds):
            row = {"unix": round(time.time(), 1)}
            try:
                row["lag"] = sample(url, stream)
            except OSError as e:
                row["error"] = str(e)
            f.write(json.dumps(row) + "\n")
            f.flush()
            time.sleep(1)


if __name__ == "__main__":
    main()
