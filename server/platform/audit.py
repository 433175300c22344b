"""The audit log of moderator actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.platform.auth import Principal
from server.platform.models import AuditEntry


def record(
    db: AsyncSession, actor: Principal, event_id: int | None, action: str, target: str = "",
    **data: Any,
) -> None:
    """Add an entry to the caller's transaction: it is stored with the change or not at all."""
    db.add(AuditEntry(
        event_id=event_id, actor_user_id=actor.id if actor.is_staff else None,
        action=action, target=target, data=data,
    ))
