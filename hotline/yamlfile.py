"""Reading an administrator-edited YAML file (QA rules, tagger taxonomy) with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hotline.errors import HotlineError


def read_yaml(file: Path, what: str, error: type[HotlineError]) -> Any:
    """The parsed content of ``file``; ``error`` naming the file when it cannot be read or is not YAML."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{file}: cannot read {what}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{file}: not valid YAML: {exc}") from None
