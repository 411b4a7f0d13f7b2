"""Keys for caller numbers: a keyed HMAC for lookups and an authenticated cipher for the stored copy.

Both keys are derived (HKDF-SHA256) from one master secret: ``privacy.secret`` in the config or the
environment, else the file ``privacy.secret_file``, which is created with mode 0600 on first use.
Changing the secret makes stored HMACs unmatchable and stored ciphertexts unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hotline.config import Settings
from hotline.errors import ConfigError, HotlineError

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 16


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class NumberKeys:
    """Keyed operations on canonical (E.164) numbers. Never holds a number itself."""

    hmac_key: bytes = field(repr=False)
    fernet: Fernet = field(repr=False)

    @classmethod
    def from_master(cls, master: bytes) -> NumberKeys:
        if len(master) < MIN_SECRET_BYTES:
            raise ConfigError(f"config key 'privacy.secret' is too short: expected at least {MIN_SECRET_BYTES} bytes")
        enc = _derive(master, b"hotline/number-encryption/v1")
        return cls(
            hmac_key=_derive(master, b"hotline/number-hmac/v1"),
            fernet=Fernet(base64.urlsafe_b64encode(enc)),
        )

    def digest(self, e164: str) -> bytes:
        return hmac.new(self.hmac_key, e164.encode(), hashlib.sha256).digest()

    def encrypt(self, e164: str) -> bytes:
        return self.fernet.encrypt(e164.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self.fernet.decrypt(token).decode()
        except InvalidToken:
            raise HotlineError(
                "a stored caller number cannot be decrypted with the current privacy.secret (was the secret changed?)"
            ) from None


def load_keys(settings: Settings) -> NumberKeys:
    configured = settings.privacy.secret
    if configured is not None:
        return NumberKeys.from_master(configured.get_secret_value().encode())
    path = settings.privacy.secret_file
    if not path.exists():
        _create_secret_file(path)
    try:
        master = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read privacy.secret_file {path}: {exc.strerror}") from None
    return NumberKeys.from_master(master)


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_urlsafe(32).encode() + b"\n")
    log.warning("created a new privacy secret in %s: back it up, stored numbers depend on it", path)
