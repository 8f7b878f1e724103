#!/usr/bin/env python3
"""Removes from the local stack what one throw-away run of the cluster shape left there:
its Cassandra keyspace, its NATS streams, its S3 objects and its OpenSearch index.

Usage: stack_cleanup.py TAG

TAG names the run's own resources, as the run configured its server:
  keyspace        TAG                       (PETIT_CHAT__STORE__KEYSPACE)
  NATS streams    TAG (upper case)_CHAT_LOG, _USER_EVENTS, _NOTIFY, and the KV buckets'
                  streams KV_TAG_PRESENCE, _WORKERS and _NONCES
                                            (PETIT_CHAT__BUS__PREFIX, as bus_nats names them)
  S3 keys         under TAG/ in the stack's bucket (PETIT_CHAT__BLOBS__PREFIX)
  search index    TAG-* and the template TAG (PETIT_CHAT__SEARCH__INDEX)
TAG must be lowercase letters, digits and `_`, ending in `_` and 8 hex digits (a run's
random part), so a deployment's names (`petit_chat`) are never touched. The endpoints come
from `eval "$(scripts/stack env)"` (PETIT_CHAT_STACK_*). Each removal is tried even if one
before failed; exits 1 if any failed (the reasons on stderr). Run with the python of the
stack tools' venv (scripts/lib/pytools.sh stack: cassandra-driver and boto3).
"""
import json
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

TAG = re.compile(r"^[a-z][a-z0-9_]*_[0-9a-f]{8}$")


def env(name):
    key = f"PETIT_CHAT_STACK_{name}"
    value = os.environ.get(key)
    if not value:
        sys.exit(f'stack_cleanup: {key} is not set: run `eval "$(scripts/stack env)"` first')
    return value


def drop_keyspace(tag):
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy

    hosts = [p.rsplit(":", 1) for p in env("CQL_CONTACT_POINTS").split(",")]
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=env("CQL_LOCAL_DATACENTER")), request_timeout=120
    )
    cluster = Cluster(
        [h for h, _ in hosts],
        port=int(hosts[0][1]),
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        schema_metadata_enabled=False,
        token_metadata_enabled=False,
        # A keyspace of dozens of tables takes a while to drop on a busy node.
        max_schema_agreement_wait=120,
    )
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {tag}")
    finally:
        cluster.shutdown()


def delete_streams(tag):
    """Deletes the run's JetStream streams with the JetStream API over the plain NATS
    protocol ($JS.API.STREAM.DELETE.<name>; a stream that is not there is fine)."""
    url = urllib.parse.urlparse(env("NATS_URL"))
    upper = tag.upper()
    names = [f"{upper}_CHAT_LOG", f"{upper}_USER_EVENTS", f"{upper}_NOTIFY"]
    names += [f"KV_{upper}_{bucket}" for bucket in ("PRESENCE", "WORKERS", "NONCES")]
    with socket.create_connection((url.hostname, url.port or 4222), timeout=30) as sock:
        reader = sock.makefile("rb")
        if not reader.readline().startswith(b"INFO "):
            raise RuntimeError("no INFO from the NATS server")
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\nSUB _INBOX.cleanup 1\r\n')
        for name in names:
            sock.sendall(f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.cleanup 0\r\n\r\n".encode())
            answer = next_message(sock, reader)
            error = answer.get("error")
            # 10059: stream not found.
            if error and error.get("err_code") != 10059:
                raise RuntimeError(f"deleting stream {name}: {error}")


def next_message(sock, reader):
    while True:
        line = reader.readline()
        if not line:
            raise RuntimeError("the NATS server closed the connection")
        if line.startswith(b"PING"):
            sock.sendall(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            raise RuntimeError(line.decode().strip())
        elif line.startswith(b"MSG "):
            size = int(line.split()[-1])
            payload = reader.read(size + 2)[:size]
            return json.loads(payload)


def delete_objects(tag):
    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        endpoint_url=env("S3_ENDPOINT"),
        region_name=env("S3_REGION"),
        aws_access_key_id=env("S3_ACCESS_KEY_ID"),
        aws_secret_access_key=env("S3_SECRET_ACCESS_KEY"),
        config=botocore.config.Config(s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=60),
    )
    bucket, prefix = env("S3_BUCKET"), f"{tag}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    for upload in uploads:
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def delete_index(tag):
    base = env("OPENSEARCH_URL").rstrip("/")
    for path in (f"{tag}-*", f"_index_template/{tag}"):
        request = urllib.request.Request(f"{base}/{path}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=60).close()
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tag = sys.argv[1]
    if not TAG.match(tag):
        sys.exit(f"stack_cleanup: {tag!r} is not a run's tag (lowercase, ending in _ and 8 hex digits)")
    failed = False
    for what, remove in [
        ("keyspace", drop_keyspace),
        ("NATS streams", delete_streams),
        ("S3 objects", delete_objects),
        ("search index", delete_index),
    ]:
        try:
            remove(tag)
        except Exception as e:  # report each failure, try the rest
            print(f"stack_cleanup: {what} of {tag}: {e}", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
