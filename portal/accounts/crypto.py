"""Encryption at rest for Calendly tokens: Fernet (AES-128-CBC + HMAC-SHA256) with
MultiFernet, so FIELD_ENCRYPTION_KEY can hold several keys, newest first, and old rows stay
readable while `manage.py rotate_encryption_keys` re-encrypts them under the newest."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _keys(raw_keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(raw_keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY: key {position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes); see .env.example for how to make one"
            ) from None
    if not fernets:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set")
    return MultiFernet(fernets)


def keys() -> MultiFernet:
    return _keys(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return keys().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return keys().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored token cannot be decrypted with FIELD_ENCRYPTION_KEY: was a key removed "
            "before rotate_encryption_keys re-encrypted the data?"
        ) from None


def rotate(ciphertext: str) -> str:
    return keys().rotate(ciphertext.encode()).decode()


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """Text stored encrypted; Python code only ever sees the plaintext.

    No length limit: Calendly's access tokens grew before and may grow again. Empty strings
    stay empty so "no refresh token" needs no ciphertext.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
