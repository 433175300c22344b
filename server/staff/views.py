"""Staff pages: the admins' list with invitations, removal and resets (/admin/staff); the
invitation and reset links (/staff/invitation/<token>, /staff/reset/<token>); "forgot my
password" (/login/forgot), which never tells whether a user exists."""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.wrappers.response import Response

from server.mail.sender import SENDER
from server.platform.errors import DomainError
from server.platform.forms import form_errors
from server.platform.models import Region, User
from server.platform.programme import list_events
from server.platform.store import require_rate
from server.platform.web import (
    checked_form,
    client_address,
    end_sockets_of,
    language,
    platform,
    render,
    require_principal,
    safe_next,
    sign_in,
    t,
)
from server.staff import service, sso
from server.staff.service import AcceptForm, GlobalRoleForm, InviteForm, PasswordForm, RoleForm
from server.staff.sso import SSO, OpenIdConnect

staff = Blueprint("staff", __name__)
Page = tuple[str, int]
FORGOT_PER_ADDRESS = 10


def _messages(exc: ValidationError, model: type) -> dict[str, str]:
    messages = {k: t(key, **v) for k, (key, v) in form_errors(exc, model).items()}
    if "email" in messages:
        messages["email"] = t("error.email")
    return messages


def _field_of(refused: DomainError, default: str) -> str:
    """The form field a refusal is about (`field=` where it was raised)."""
    return str(refused.details.get("field") or default)



async def _choices(db: AsyncSession) -> dict[str, Any]:
    """What a role can be given for: the events (newest first) and the regions."""
    return {
        "events": await list_events(db, include_drafts=True),
        "regions": list(await db.execute(select(Region.code, Region.name).order_by(Region.name))),
    }


async def _role_form() -> dict[str, Any]:
    """The posted form, its regions as the list of ticked boxes."""
    form: dict[str, Any] = await checked_form()
    form["regions"] = (await request.form).getlist("regions")
    return form


@staff.get("/admin/staff")
async def admin_page(form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                     status: int = 200) -> Page:
    principal = await require_principal("admin")
    async with platform().db.session() as db:
        users, pending = await service.listing(db)
        roles = await service.event_roles(db)
        choices = await _choices(db)
    return await render("staff/admin.html", status, users=users, pending=pending, roles=roles,
                        form=form or {"role": "moderator"}, errors=errors or {},
                        me=principal.id, args=request.args, **choices)


@staff.post("/admin/staff/invite")
async def invite() -> Page | Response:
    actor = await require_principal("admin")
    form = await _role_form()
    try:
        data = InviteForm.model_validate(form)
    except ValidationError as exc:
        return await admin_page(form, _messages(exc, InviteForm), 422)
    try:
        async with platform().db.transaction() as db:
            await service.invite(db, actor, platform().settings, data, language())
    except DomainError as refused:
        return await admin_page(form, {_field_of(refused, "email"): refused.text(language())}, 422)
    platform().need(SENDER).wake()
    return redirect(url_for("staff.admin_page", invited=data.email))


@staff.get("/admin/staff/<int:user_id>")
async def person(user_id: int, form: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None, status: int = 200) -> Page:
    """One staff member's roles: at every event, and per event with a facilitator's regions."""
    principal = await require_principal("admin")
    async with platform().db.session() as db:
        user = await db.get(User, user_id) if 0 < user_id < 2**31 else None
        if user is None:
            raise DomainError("staff.not_found", "Personen finns inte.")
        roles = await service.roles_of(db, user.id)
        choices = await _choices(db)
    return await render("staff/person.html", status, user=user, roles=roles, me=principal.id,
                        form=form or {"role": "moderator"}, errors=errors or {},
                        args=request.args, **choices)


async def _reload_pages_of(user_id: int) -> None:
    """After a change of role: the person's open pages reload (their sockets end; the next
    handshake reads the new role), their sessions stay."""
    async with platform().db.session() as db:
        await end_sockets_of(await service.session_ids(db, user_id))


@staff.post("/admin/staff/<int:user_id>/roles")
async def grant(user_id: int) -> Page | Response:
    actor = await require_principal("admin")
    form = await _role_form()
    try:
        data = RoleForm.model_validate(form)
        async with platform().db.transaction() as db:
            await service.grant(db, actor, user_id, data)
    except ValidationError as exc:
        return await person(user_id, form, _messages(exc, RoleForm), 422)
    except DomainError as refused:
        if refused.status == 404 and refused.code == "staff.not_found":
            raise
        return await person(user_id, form, {_field_of(refused, "role"): refused.text(language())},
                            refused.status)
    await _reload_pages_of(user_id)
    return redirect(url_for("staff.person", user_id=user_id, saved=1))


@staff.post("/admin/staff/roles/<int:role_id>/remove")
async def revoke(role_id: int) -> Response:
    actor = await require_principal("admin")
    await checked_form()
    async with platform().db.transaction() as db:
        user = await service.revoke(db, actor, role_id)
    await _reload_pages_of(user.id)
    return redirect(url_for("staff.person", user_id=user.id, saved=1))


@staff.post("/admin/staff/<int:user_id>/<action>")
async def user_action(user_id: int, action: str) -> Response:
    actor = await require_principal("admin")
    form = await checked_form()
    if action == "role":
        try:
            role = GlobalRoleForm.model_validate(form).role
        except ValidationError as exc:
            raise DomainError("staff.invalid_role", "Okänd roll.") from exc
        async with platform().db.transaction() as db:
            await service.set_global_role(db, actor, user_id, role)
        await _reload_pages_of(user_id)
        return redirect(url_for("staff.person", user_id=user_id, saved=1))
    if action == "remove":
        async with platform().db.transaction() as db:
            ended = await service.remove(db, actor, user_id)
        await end_sockets_of(ended)
        return redirect(url_for("staff.admin_page", removed=1))
    if action == "reset":
        async with platform().db.transaction() as db:
            user = await db.get(User, user_id) if 0 < user_id < 2**31 else None
            if user is None or not user.email:
                raise DomainError("staff.no_email", "Personen har ingen e-postadress.")
            await service.request_reset(db, platform().settings, user.username, language(),
                                        actor)
        platform().need(SENDER).wake()
        return redirect(url_for("staff.admin_page", reset=1))
    raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")


@staff.route("/staff/invitation/<token>", methods=["GET", "POST"])
async def accept(token: str) -> Page | Response:
    async with platform().db.session() as db:
        row = await service.valid_token(db, "invite", token)
        name, email = row.display_name, row.email
    if request.method == "GET":
        return await render("staff/accept.html", name=name, email=email, form={}, errors={})
    form = await checked_form()
    try:
        data = AcceptForm.model_validate(form)
    except ValidationError as exc:
        errors = _messages(exc, AcceptForm)
        if "username" in errors:
            errors["username"] = t("error.username")
        return await render("staff/accept.html", 422, name=name, email=email,
                            form={"username": form.get("username", "")}, errors=errors)
    try:
        async with platform().db.transaction() as db:
            user = await service.accept(db, await service.valid_token(db, "invite", token), data)
    except DomainError as refused:
        return await render("staff/accept.html", 422, name=name, email=email,
                            form={"username": form.get("username", "")},
                            errors={"username": refused.text(language())})
    await sign_in(user_id=user.id)
    return redirect("/")


@staff.route("/staff/reset/<token>", methods=["GET", "POST"])
async def reset(token: str) -> Page | Response:
    async with platform().db.session() as db:
        await service.valid_token(db, "reset", token)
    if request.method == "GET":
        return await render("staff/reset.html", errors={})
    form = await checked_form()
    try:
        data = PasswordForm.model_validate(form)
    except ValidationError as exc:
        return await render("staff/reset.html", 422, errors=_messages(exc, PasswordForm))
    async with platform().db.transaction() as db:
        ended = await service.reset(db, await service.valid_token(db, "reset", token), data)
    await end_sockets_of(ended)
    return redirect(url_for("pages.login", reset=1))


@staff.route("/login/forgot", methods=["GET", "POST"])
async def forgot() -> Page | tuple[str, int, dict[str, str]]:
    if request.method == "GET":
        return await render("staff/forgot.html", sent=False, error=None)
    form = await checked_form()
    try:
        await require_rate(platform().store, "staff.forgot", client_address(),
                           FORGOT_PER_ADDRESS, 3600, "staff.rate_limited",
                           "För många förfrågningar härifrån. Försök igen om en stund.")
    except DomainError as refused:
        page, status = await render("staff/forgot.html", 429, sent=False,
                                    error=refused.text(language()))
        return page, status, refused.headers
    async with platform().db.transaction() as db:
        await service.request_reset(db, platform().settings, form.get("who", ""), language())
    platform().need(SENDER).wake()
    return await render("staff/forgot.html", sent=True, error=None)


# ---- single sign-on -----------------------------------------------------------------------

SSO_SESSION = "sso"


def _sso() -> OpenIdConnect:
    return platform().need(SSO)


@staff.get("/login/sso")
async def sso_start() -> Response:
    oidc = _sso()
    if not oidc.enabled:
        raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")
    begun = await oidc.start()
    session[SSO_SESSION] = {"state": begun.state, "nonce": begun.nonce,
                            "verifier": begun.verifier,
                            "next": safe_next(request.args.get("next"))}
    return redirect(begun.url)


@staff.get("/login/sso/callback")
async def sso_callback() -> Page | Response:
    oidc = _sso()
    if not oidc.enabled:
        raise DomainError("not_found", "Sidan finns inte.", key="not_found.page")
    pending = session.pop(SSO_SESSION, None)
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if (not isinstance(pending, dict) or not state or not code or len(code) > 2000
            or not hmac.compare_digest(str(pending.get("state", "")), state)):
        return await _sso_refused("state")
    try:
        claims = await oidc.finish(code, str(pending["nonce"]), str(pending["verifier"]))
        async with platform().db.transaction() as db:
            user = await sso.staff_member(db, platform().settings, claims)
    except DomainError as failed:
        return await _sso_refused(str(failed.details.get("reason", "")))
    await sign_in(user_id=user.id)
    return redirect(str(pending.get("next") or "/"))


async def _sso_refused(reason: str) -> Page:
    message = t(f"sso.refused.{reason}") if reason in sso.REASONS else t("sso.refused")
    return await render("login.html", 401, error=message)
