#!/usr/bin/env python3
"""Import (or re-import) a Keycloak realm through the admin REST API, standard library only.

Usage: keycloak_realm.py BASE_URL ADMIN_USER ADMIN_PASSWORD REALM_JSON STAMP_FILE

The realm named inside REALM_JSON is created when missing. When it exists and
STAMP_FILE holds the SHA-256 of the same REALM_JSON, nothing is done; when the
file changed, the realm is deleted and created again from the file (dev stacks
only: user ids change). On success STAMP_FILE is written. Exit 0 on success,
1 with the reason on stderr.
"""
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def call(method, url, token=None, data=None, form=None, timeout=60):
    headers = {}
    body = None
    if token:
        headers["Authorization"] = "Bearer " + token
    if data is not None:
        headers["Content-Type"] = "application/json"
        body = data
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def main():
    if len(sys.argv) != 6:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base, user, password, realm_file, stamp_file = sys.argv[1:]
    base = base.rstrip("/")
    with open(realm_file, "rb") as f:
        realm_json = f.read()
    realm = json.loads(realm_json)["realm"]
    digest = hashlib.sha256(realm_json).hexdigest()
    try:
        status, _ = call("GET", "%s/realms/%s/.well-known/openid-configuration" % (base, realm))
        stamp = open(stamp_file).read().strip() if os.path.exists(stamp_file) else ""
        if status == 200 and stamp == digest:
            print("realm %s is up to date" % realm)
            return 0
        status, body = call(
            "POST",
            base + "/realms/master/protocol/openid-connect/token",
            form={"grant_type": "password", "client_id": "admin-cli", "username": user, "password": password},
        )
        if status != 200:
            print("admin login failed: HTTP %d %s" % (status, body[:300].decode(errors="replace")), file=sys.stderr)
            return 1
        token = json.loads(body)["access_token"]
        status, body = call("GET", "%s/admin/realms/%s" % (base, realm), token=token)
        if status == 200:
            print("realm %s changed since last import: deleting and importing it again" % realm)
            status, body = call("DELETE", "%s/admin/realms/%s" % (base, realm), token=token)
            if status not in (204, 404):
                print("delete realm failed: HTTP %d %s" % (status, body[:300].decode(errors="replace")), file=sys.stderr)
                return 1
        status, body = call("POST", base + "/admin/realms", token=token, data=realm_json, timeout=180)
        if status != 201:
            print("import realm failed: HTTP %d %s" % (status, body[:500].decode(errors="replace")), file=sys.stderr)
            return 1
        with open(stamp_file, "w") as f:
            f.write(digest + "\n")
        print("realm %s imported from %s" % (realm, realm_file))
        return 0
    except OSError as exc:
        print("keycloak %s: %s" % (base, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
