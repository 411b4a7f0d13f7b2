import os
import stat
from pathlib import Path

import pytest

from hotline.caller.privacy import NumberKeys, load_keys
from hotline.config import load_settings
from hotline.errors import ConfigError


def test_digest_is_stable_and_depends_on_the_secret() -> None:
    a = NumberKeys.from_master(b"a" * 32)
    b = NumberKeys.from_master(b"b" * 32)
    assert a.digest("+8613908712345") == a.digest("+8613908712345")
    assert a.digest("+8613908712345") != b.digest("+8613908712345")
    assert len(a.digest("+8613908712345")) == 32


def test_encryption_round_trip_and_no_plaintext() -> None:
    keys = NumberKeys.from_master(b"s" * 32)
    token = keys.encrypt("+8613908712345")
    assert b"13908712345" not in token
    assert keys.decrypt(token) == "+8613908712345"


def test_wrong_secret_cannot_decrypt() -> None:
    token = NumberKeys.from_master(b"s" * 32).encrypt("+8613908712345")
    with pytest.raises(Exception, match="cannot be decrypted"):
        NumberKeys.from_master(b"t" * 32).decrypt(token)


def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"privacy.secret_file": str(tmp_path / "k" / "secret.key")})
    first = load_keys(settings)
    path = tmp_path / "k" / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keys(settings).digest("+8613908712345") == first.digest("+8613908712345")


def test_short_secret_is_refused() -> None:
    settings = load_settings(environ={"HOTLINE_PRIVACY_SECRET": "short"})
    with pytest.raises(ConfigError, match="too short"):
        load_keys(settings)
