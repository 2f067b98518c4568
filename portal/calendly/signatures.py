"""Calendly webhook signatures: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC>`.

The HMAC-SHA256 is keyed with the subscription's signing key and taken over `"<t>." + raw body`,
the exact bytes received; re-serialising parsed JSON would change them and break the check.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Calendly-Webhook-Signature"
# Calendly's signature example reportedly allows about three minutes of skew; its docs do not
# state a tolerance (https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures).
DEFAULT_TOLERANCE = 180


class InvalidSignature(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Webhook signature rejected: {reason}")


def _digest(signing_key: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(signing_key.encode(), signed, hashlib.sha256).hexdigest()


def sign_webhook(body: bytes, signing_key: str, timestamp: int) -> str:
    """The header value Calendly would send for `body` at `timestamp` (for the sandbox/tests)."""
    return f"t={timestamp},v1={_digest(signing_key, str(timestamp), body)}"


def verify_webhook_signature(
    *,
    header: str | None,
    body: bytes,
    signing_key: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Return quietly when the delivery is authentic and fresh; raise InvalidSignature if not."""
    if not signing_key:
        raise InvalidSignature("no signing key is configured")
    if not header:
        raise InvalidSignature("the signature header is missing")
    parts: dict[str, str] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise InvalidSignature("the signature header is malformed")
        parts.setdefault(name, value)
    timestamp, signature = parts.get("t"), parts.get("v1")
    if timestamp is None or signature is None:
        raise InvalidSignature("the signature header lacks t= or v1=")
    # Unix seconds have ten digits until the year 2286; a longer "number" is not a timestamp.
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise InvalidSignature("the signature timestamp is not a number")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise InvalidSignature("the signature timestamp is outside the allowed window")
    expected = _digest(signing_key, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise InvalidSignature("the signature does not match the body")


def verify_with_any(
    *,
    header: str | None,
    body: bytes,
    signing_keys: list[str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Like `verify_webhook_signature`, accepting a signature made with any of the keys (a
    subscription's own key, the OAuth app's key). Problems with the header itself are raised
    as they are; a mismatch only once no key matches."""
    keys = [key for key in signing_keys if key]
    if not keys:
        raise InvalidSignature("no signing key is configured")
    for position, key in enumerate(keys, start=1):
        try:
            verify_webhook_signature(
                header=header, body=body, signing_key=key, tolerance=tolerance, now=now
            )
        except InvalidSignature as rejected:
            if rejected.reason != "the signature does not match the body" or position == len(keys):
                raise
        else:
            return
