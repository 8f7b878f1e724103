#!/usr/bin/env python3
"""Removes, from a stopped Cassandra node's data directory, what dropped tables leave behind.

Usage: cassandra_prune.py DATA_DIR

Tests create and drop hundreds of keyspaces. Cassandra 5.0 deletes a dropped table's
SSTables but keeps, for good:
  * its empty directory (data/<keyspace>/<table>-<id>/), which start-up lists;
  * its Paxos repair state (data/system/_paxos_repair_state/<ks>-<table>-<id>-<n>.paxos,
    one per table that ever took a lightweight transaction), which start-up loads one
    by one before it opens the CQL port: ~3,900 such files took 3 minutes;
  * and every compaction in system.compaction_history, which 5.0.x copies onto itself at
    every start ("Migrated 36559 rows from legacy compaction_history"): 25 s.
This removes the three. A live table's directory is kept whenever it holds a file;
an empty one is removed and Cassandra creates it again when it opens the table, so the
test for "dropped" is "no non-empty directory for this table id". Only run it while the
node is stopped (scripts/stack does, just before starting it). Prints what it removed.
"""
import os
import re
import sys

PAXOS_STATE = re.compile(r"-([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})-\d+\.paxos(\.crc)?$")


def main(data):
    if not os.path.isdir(data):
        return
    live_ids, dirs, keyspaces = set(), 0, 0
    for ks in sorted(os.listdir(data)):
        ks_dir = os.path.join(data, ks)
        if not os.path.isdir(ks_dir):
            continue
        system = ks.startswith("system")
        for table in os.listdir(ks_dir):
            table_dir = os.path.join(ks_dir, table)
            if not os.path.isdir(table_dir):
                continue
            if os.listdir(table_dir) or system:
                live_ids.add(table.rsplit("-", 1)[-1])
            else:
                os.rmdir(table_dir)
                dirs += 1
        if not system and not os.listdir(ks_dir):
            os.rmdir(ks_dir)
            keyspaces += 1

    paxos = 0
    state_dir = os.path.join(data, "system", "_paxos_repair_state")
    if os.path.isdir(state_dir):
        for name in os.listdir(state_dir):
            m = PAXOS_STATE.search(name)
            if m and "".join(m.groups()[:5]) not in live_ids:
                os.remove(os.path.join(state_dir, name))
                paxos += 1

    history = 0
    system_dir = os.path.join(data, "system")
    if os.path.isdir(system_dir):
        for table in os.listdir(system_dir):
            if table.startswith("compaction_history-"):
                table_dir = os.path.join(system_dir, table)
                for name in os.listdir(table_dir):
                    path = os.path.join(table_dir, name)
                    if os.path.isfile(path):
                        os.remove(path)
                        history += 1

    if dirs or keyspaces or paxos or history:
        print(
            f"removed what dropped tables left: {dirs} empty table directories, {keyspaces} keyspace "
            f"directories, {paxos} Paxos state files, {history} compaction-history files"
        )


if __name__ == "__main__":
    main(sys.argv[1])
