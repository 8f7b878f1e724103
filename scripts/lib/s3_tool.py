#!/usr/bin/env python3
"""Tiny S3 client (AWS Signature V4, path-style), standard library only.

Usage:
  s3_tool.py ensure-bucket ENDPOINT REGION ACCESS_KEY SECRET_KEY BUCKET
  s3_tool.py check         ENDPOINT REGION ACCESS_KEY SECRET_KEY BUCKET
  s3_tool.py ping          ENDPOINT REGION ACCESS_KEY SECRET_KEY -

`ensure-bucket` creates BUCKET if it does not exist; `check` lists at most one key
of BUCKET with the given credentials; `ping` lists the buckets (the gateway answers
signed requests). Exit 0 on success, 1 with the reason on
stderr otherwise. Used by scripts/stack (S3 health check and bucket creation).
"""
import datetime
import re
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def request(method, endpoint, region, access_key, secret_key, path, query=None, timeout=10):
    url = urllib.parse.urlsplit(endpoint)
    host = url.netloc
    query = query or {}
    canonical_query = "&".join(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
        for k, v in sorted(query.items())
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
    signed_headers = ";".join(sorted(headers))
    canonical_headers = "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers))
    canonical_request = "\n".join(
        [method, urllib.parse.quote(path, safe="/-_.~"), canonical_query, canonical_headers, signed_headers, EMPTY_SHA256]
    )
    scope = "%s/%s/s3/aws4_request" % (day, region)
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _sign(("AWS4" + secret_key).encode(), day)
    key = _sign(key, region)
    key = _sign(key, "s3")
    key = _sign(key, "aws4_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key,
        scope,
        signed_headers,
        signature,
    )
    full = "%s://%s%s" % (url.scheme, host, urllib.parse.quote(path, safe="/-_.~"))
    if canonical_query:
        full += "?" + canonical_query
    req = urllib.request.Request(full, method=method, headers={k: v for k, v in headers.items() if k != "host"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def describe(status, body):
    text = body.decode(errors="replace")
    code = re.search(r"<Code>([^<]*)</Code>", text)
    msg = re.search(r"<Message>([^<]*)</Message>", text)
    if code:
        return "HTTP %d %s%s" % (status, code.group(1), (": " + msg.group(1)) if msg else "")
    return "HTTP %d %s" % (status, text[:200])


def main():
    if len(sys.argv) != 7 or sys.argv[1] not in ("ensure-bucket", "check", "ping"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    cmd, endpoint, region, access_key, secret_key, bucket = sys.argv[1:]
    try:
        if cmd == "ensure-bucket":
            status, body = request("HEAD", endpoint, region, access_key, secret_key, "/" + bucket)
            if status == 200:
                return 0
            status, body = request("PUT", endpoint, region, access_key, secret_key, "/" + bucket)
            if status in (200, 409):
                return 0
            print("S3 create bucket %s: %s" % (bucket, describe(status, body)), file=sys.stderr)
            return 1
        if cmd == "ping":
            status, body = request("GET", endpoint, region, access_key, secret_key, "/")
            if status == 200:
                return 0
            print("S3 list buckets: %s" % describe(status, body), file=sys.stderr)
            return 1
        status, body = request(
            "GET", endpoint, region, access_key, secret_key, "/" + bucket, {"list-type": "2", "max-keys": "1"}
        )
        if status == 200:
            return 0
        print("S3 list bucket %s: %s" % (bucket, describe(status, body)), file=sys.stderr)
        return 1
    except OSError as exc:
        print("S3 %s: %s" % (endpoint, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
