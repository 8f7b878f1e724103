"""Schemathesis hooks of scripts/lib/contract.sh in the cluster shape (loaded with
SCHEMATHESIS_HOOKS=contract_auth): every request carries a Keycloak access token of the
fuzzing user, got by a password grant on the dev realm's test client and fetched again
every two minutes, since the realm's tokens live five (accessTokenLifespan) and a run can
take longer. The embedded shape's dev-login token does not expire: it is sent as a plain
header instead.

Reads PETIT_CHAT_CONTRACT_TOKEN_URL (the realm's token endpoint), _CLIENT_ID, _USERNAME
and _PASSWORD; PETIT_CHAT_CONTRACT_TOKEN_REFRESH_SECS (default 120) sets how often.
"""
import json
import os
import urllib.parse
import urllib.request

import schemathesis


def password_grant():
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "client_id": os.environ["PETIT_CHAT_CONTRACT_CLIENT_ID"],
            "username": os.environ["PETIT_CHAT_CONTRACT_USERNAME"],
            "password": os.environ["PETIT_CHAT_CONTRACT_PASSWORD"],
        }
    ).encode()
    with urllib.request.urlopen(os.environ["PETIT_CHAT_CONTRACT_TOKEN_URL"], form, timeout=30) as response:
        return json.load(response)["access_token"]


@schemathesis.auth(refresh_interval=int(os.environ.get("PETIT_CHAT_CONTRACT_TOKEN_REFRESH_SECS", "120")))
class KeycloakToken:
    def get(self, case, ctx):
        return password_grant()

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
