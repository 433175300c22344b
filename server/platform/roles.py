"""Staff's roles, decided in one place: an admin is admin at every event; at an event where an
admin gave them a role (models.StaffRole) they hold that role there, with a facilitator's
regions; at any other event their global role (`User.role`; auth.NO_ROLE: none). HTTP requests
resolve it for the event their route names (web.request_event), socket handshakes for the
socket's event (connection.authenticate_token)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform.auth import Principal
from server.platform.models import StaffRole, User


async def staff_principal(db: AsyncSession, user: User, event_id: int | None) -> Principal:
    """`user` as the caller of an action about `event_id` (None: about no one event)."""
    rows = list(await db.scalars(select(StaffRole).where(StaffRole.user_id == user.id)))
    role = user.role
    regions: tuple[str, ...] = ()
    here = next((r for r in rows if r.event_id == event_id), None)
    if here is not None and user.role != "admin":
        role = here.role
        regions = tuple(here.regions) if here.role == "facilitator" else ()
    return Principal("user", user.id, user.display_name, role, at_event=event_id,
                     regions=regions, event_roles=tuple((r.event_id, r.role) for r in rows),
                     global_role=user.role)


def staff_with_role(event_id: int, roles: Iterable[str]) -> Select[int, str]:
    """Staff (id, display name) whose role at `event_id` is one of `roles` (admins count as
    "admin"), by display name."""
    held = case((User.role == "admin", "admin"), else_=func.coalesce(StaffRole.role, User.role))
    return (
        select(User.id, User.display_name)
        .outerjoin(StaffRole, and_(StaffRole.user_id == User.id, StaffRole.event_id == event_id))
        .where(held.in_(tuple(roles)))
        .order_by(User.display_name, User.id)
    )
