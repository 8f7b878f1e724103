#!/usr/bin/env python3
"""The stack's S3 checks, with boto3 (AWS's own SDK; path-style addressing).

Usage:
  s3_check.py ensure-bucket ENDPOINT REGION ACCESS_KEY SECRET_KEY BUCKET
  s3_check.py check         ENDPOINT REGION ACCESS_KEY SECRET_KEY BUCKET
  s3_check.py ping          ENDPOINT REGION ACCESS_KEY SECRET_KEY -

`ensure-bucket` creates BUCKET if it does not exist; `check` lists at most one key of
BUCKET with the given credentials; `ping` lists the buckets (the gateway answers signed
requests). Exit 0 on success, 1 with the reason on stderr otherwise. Run by scripts/stack
with the python of its tools' venv (scripts/stack: stack_python).
"""
import sys

import boto3
import botocore.config
import botocore.exceptions


def main():
    if len(sys.argv) != 7 or sys.argv[1] not in ("ensure-bucket", "check", "ping"):
        sys.exit(__doc__)
    cmd, endpoint, region, access_key, secret_key, bucket = sys.argv[1:]
    config = botocore.config.Config(
        s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )
    try:
        if cmd == "ping":
            s3.list_buckets()
        elif cmd == "check":
            s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
        else:
            try:
                s3.head_bucket(Bucket=bucket)
            except botocore.exceptions.ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
                s3.create_bucket(Bucket=bucket)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        print(f"s3 {cmd}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
