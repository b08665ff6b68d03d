"""Encryption of secrets at rest (Fernet, key derived from configuration)."""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from services.errors import BerthError


class SecretUnreadable(BerthError, ValueError):
    """A stored secret that the configured key cannot decrypt."""


class SecretBox:
    def __init__(self, key_material: str):
        digest = hashlib.sha256(("berth-secrets-v1:" + key_material).encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as e:
            raise SecretUnreadable("A stored secret cannot be decrypted: was BERTH_ENCRYPTION_KEY "
                                   "(or BERTH_SECRET_KEY) changed?") from e


def secret_box() -> SecretBox:
    """The box for this app's secrets at rest (BERTH_ENCRYPTION_KEY, else the secret key)."""
    cfg = current_app.config
    return SecretBox(cfg.get("BERTH_ENCRYPTION_KEY") or cfg["SECRET_KEY"])
