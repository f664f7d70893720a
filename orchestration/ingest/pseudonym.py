"""Customer pseudonyms: HMAC-SHA256 of the trimmed customer id, keyed by CES_PSEUDONYM_SALT.

Computed while a file is loaded, in the DuckDB stage, with the key's two HMAC pads passed as
bound parameters: the key is in no SQL text, so not in dbt's compiled SQL (`target/`), the
models' SQL stored in the warehouse, the logs or the manifest. Raw tables keep the result in
the lineage column `_customer_key`; staging reads it as `customer_key`. A salted sha256
computed in the models' SQL (before) was reversible: the salt was in every artefact, and
with the public default salt 1,434 of 1,508 keys were re-identified by enumerating ids.

`audit.pseudonym_key` records the fingerprint of the key the raw rows were keyed with (an
HMAC of a constant, not the key). When the key changes, or raw rows from before this
column exist, the next ingest recomputes `_customer_key` on the engine, again with the
pads bound (`warehouse._rekey`; Spark refuses instead: `engines.spark._check_pseudonym_key`);
the dbt models see the new fingerprint (var pseudonym_key_fingerprint) and
recompute every row built with another one.
"""

from __future__ import annotations

import hashlib
import hmac
import os

# The public development default (samples and tests); every build on it warns.
DEV_KEY = "ces-dev-salt-change-me"
_BLOCK = 64  # SHA-256's block size


def key() -> bytes:
    """The pseudonym key (CES_PSEUDONYM_SALT; the public development default otherwise)."""
    return (os.environ.get("CES_PSEUDONYM_SALT") or DEV_KEY).encode("utf-8")


def pads(secret: bytes | None = None) -> tuple[bytes, bytes]:
    """HMAC's outer and inner padded keys: HMAC(k, m) = H(opad || H(ipad || m))."""
    secret = key() if secret is None else secret
    if len(secret) > _BLOCK:
        secret = hashlib.sha256(secret).digest()
    padded = secret.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x5C for b in padded), bytes(b ^ 0x36 for b in padded)


def fingerprint(secret: bytes | None = None) -> str:
    """Names the key without revealing it: the first 16 hex digits of its HMAC of a
    constant. Stored with the raw rows and passed to dbt."""
    secret = key() if secret is None else secret
    return hmac.new(secret, b"ces pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]


def pseudonym(customer_id: str | None, secret: bytes | None = None) -> str | None:
    """The reference: what the SQL below computes for one id (None for a blank one)."""
    if customer_id is None or not customer_id.strip():
        return None
    secret = key() if secret is None else secret
    return hmac.new(secret, customer_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def duckdb_sql(column: str) -> tuple[str, list[bytes]]:
    """A DuckDB expression of the pseudonym of `column`, and its parameters (the pads)."""
    return _keyed(column, "sha256(?::blob || unhex(sha256(?::blob || encode(trim({c})))))")


def postgres_sql(column: str) -> tuple[str, list[bytes]]:
    """The same on PostgreSQL (sha256 of bytea, PostgreSQL 11 and later)."""
    return _keyed(
        column,
        "encode(sha256(%s::bytea || sha256(%s::bytea || convert_to(trim({c}), 'UTF8'))), 'hex')",
    )


def _keyed(column: str, hmac_expression: str) -> tuple[str, list[bytes]]:
    """`hmac_expression` (its first parameter the outer pad, its second the inner one) for
    a non-blank `column`, null for a blank one."""
    outer, inner = pads()
    expression = hmac_expression.format(c=column)
    return f"(case when nullif(trim({column}), '') is not null then {expression} end)", [
        outer,
        inner,
    ]
