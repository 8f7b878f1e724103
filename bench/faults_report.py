#!/usr/bin/env python3
"""The figures of a fault run (bench/faults.sh), per fault, as a Markdown table.

usage: faults_report.py EVENTS TIMELINE LOADGEN_LOG

A fault's window runs from its kill to the next fault's kill (or the end of the load); it
starts a second before the kill's stamp (whole seconds; runs before 2026-12-03 12:20
stamped a kill just after making it).
In it: the posts acknowledged per second while the process was dead ("load held"), the
failed attempts (posts, reactions and stream openings, by reason), and the time to
recover: from the kill to the end of the last second with a failed attempt (0 when no
request failed).
"""
import json
import sys


def main(events_path, timeline_path, log_path):
    events = [json.loads(line) for line in open(events_path) if line.strip()]
    seconds = [json.loads(line) for line in open(timeline_path) if line.strip()]
    kills = [e for e in events if e["event"].endswith("_killed")]
    end = next((e["unix"] for e in events if e["event"] == "load_stopping"), seconds[-1]["unix"] + 1)
    rows = []
    for i, kill in enumerate(kills):
        name = kill["event"][: -len("_killed")]
        start = kill["unix"] - 1
        stop = kills[i + 1]["unix"] - 1 if i + 1 < len(kills) else end
        back = next((e["unix"] for e in events if e["event"] == f"{name}_back" and e["unix"] >= start), stop)
        window = [s for s in seconds if start <= s["unix"] < stop]
        dead = [s for s in window if s["unix"] < max(back, start + 1)]
        acked = sum(s["posts_acked"] for s in dead)
        refused = {}
        for s in window:
            for reason, n in s["refused"].items():
                refused[reason] = refused.get(reason, 0) + n
        failing = [s["unix"] for s in window if s["refused"]]
        recover = (max(failing) + 1 - start) if failing else 0
        resumed = sum(s["streams_resumed"] for s in window)
        replayed = sum(s["posts_replayed"] for s in window)
        rows.append(
            f"| {name} | {back - start} | {acked / max(len(dead), 1):.1f} | {sum(refused.values())} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(refused.items())) or '-'} | {replayed} | {resumed} | {recover} |"
        )
    started = next((e["unix"] for e in events if e["event"] == "load_started"), seconds[0]["unix"])
    first_kill = kills[0]["unix"] - 1 if kills else end
    before = [s for s in seconds if started <= s["unix"] < first_kill]
    steady = sum(s["posts_acked"] for s in before) / max(len(before), 1)
    print(f"Steady load before the first fault: {steady:.1f} posts acknowledged per second.\n")
    print("| fault | down (s) | load held (posts/s while down) | failed attempts | by reason | retries answered 200 | streams resumed | time to recover (s) |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    print("\n".join(rows))
    print()
    for line in open(log_path):
        if line.startswith(("refused attempts:", "verify:")) or " msgs/s (" in line:
            print(f"    {line.rstrip()}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
