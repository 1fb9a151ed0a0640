"""SCRAM-SHA-256 verifiers: compare a known password with a stored verifier.

Lets ``grants apply`` leave a role's password alone when it already matches (so a second
run changes nothing) without ever sending the password itself to the server. New
verifiers are computed by libpq (``PQencryptPasswordConn``) through psycopg.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def verifier_matches(verifier: str, password: str) -> bool:
    """True when ``verifier`` (``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>``)
    was made from ``password``.
    """
    try:
        scheme, iter_salt, keys = verifier.split("$")
        iterations_text, salt_b64 = iter_salt.split(":")
        stored_b64, _server_b64 = keys.split(":")
    except ValueError:
        return False
    if scheme != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode("utf-8"), base64.b64decode(salt_b64), int(iterations_text)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    return hmac.compare_digest(stored_key, base64.b64decode(stored_b64))
