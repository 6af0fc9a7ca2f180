"""HMAC-SHA256 signatures on webhook bodies, for the sender and for receivers.

The signed text is ``"<unix seconds>." + body``; the timestamp travels in
``X-Nhip-Timestamp`` and the signature as ``sha256=<hex>`` in ``X-Nhip-Signature``.
A receiver recomputes it with the shared secret and refuses stale timestamps, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Nhip-Timestamp"
SIGNATURE_HEADER = "X-Nhip-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers that authenticate ``body``."""
    if not secret:
        msg = "the HMAC secret is empty; refusing to send unsigned webhooks"
        raise ValueError(msg)
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: f"sha256={digest}"}


def verify(secret: bytes, body: bytes, headers: dict[str, str],
           tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None) -> None:
    """Raises ValueError naming what is wrong unless the signature is valid and fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp_text = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if stamp_text is None or signature is None:
        msg = f"request lacks {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
        raise ValueError(msg)
    if not stamp_text.isdigit():
        msg = f"{TIMESTAMP_HEADER} {stamp_text!r} is not whole Unix seconds"
        raise ValueError(msg)
    age = (time.time() if now is None else now) - int(stamp_text)
    if abs(age) > tolerance_s:
        msg = f"{TIMESTAMP_HEADER} is {age:.0f} s off; at most {tolerance_s} s is accepted"
        raise ValueError(msg)
    expected = sign(secret, body, int(stamp_text))[SIGNATURE_HEADER]
    if not hmac.compare_digest(expected, signature):
        msg = f"{SIGNATURE_HEADER} does not match the body"
        raise ValueError(msg)
