"""Audit log: who read or changed what. Details never carry a plaintext phone number."""

from __future__ import annotations

import json
from typing import Any


async def record(
    conn: Any, actor: str, action: str, object_type: str, object_id: str | None = None, **detail: Any
) -> None:
    await conn.execute(
        """INSERT INTO audit_log (actor, action, object_type, object_id, detail)
           VALUES ($1, $2, $3, $4, $5::jsonb)""",
        actor,
        action,
        object_type,
        object_id,
        json.dumps(detail, ensure_ascii=False, default=str),
    )
