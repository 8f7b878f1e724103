#!/usr/bin/env python3
"""The stack's CQL health check, with the Python driver cqlsh is built on (PyPI's
cassandra-driver): connects to one node only, without reading the schema (cqlsh reads all
of it first, which takes seconds on a busy node with many tables), and asks it
`SELECT release_version FROM system.local`.

Usage: cql_check.py HOST PORT [TIMEOUT_SECONDS]

Prints the release version; exits 0 when the node answered, 1 otherwise (the reason on
stderr). Run by scripts/stack with the python of its tools' venv.
"""
import sys

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    host, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) == 4 else 5.0
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=timeout)
    cluster = Cluster(
        [host],
        port=port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        schema_metadata_enabled=False,
        token_metadata_enabled=False,
        connect_timeout=timeout,
        control_connection_timeout=timeout,
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        print(row.release_version)
    except Exception as e:  # the driver raises many kinds; any is "not answering"
        print(f"cql {host}:{port}: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
