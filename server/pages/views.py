"""HTML pages: events, registration, join, login, live page, console, accessibility."""

from __future__ import annotations

from datetime import date

from pydantic import ValidationError
from quart import Blueprint, redirect, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers.response import Response

from server.mail import outbox
from server.mail.sender import SENDER
from server.platform import programme
from server.platform.auth import check_password
from server.platform.errors import DomainError
from server.platform.models import RETENTION_MONTHS, AccessibilityReport, Registration, User
from server.platform.registration import (
    RegistrationIn,
    by_join_key,
    confirm,
    field_errors,
    refusal,
    register,
)
from server.platform.store import require_rate
from server.platform.web import (
    LANG_COOKIE,
    check_csrf,
    client_address,
    current_principal,
    language,
    platform,
    render,
    require_principal,
    safe_next,
    sign_in,
    sign_out,
    t,
)

pages = Blueprint("pages", __name__)


@pages.get("/")
async def home() -> tuple[str, int]:
    principal = await current_principal()
    staff = principal is not None and principal.is_staff
    async with platform().db.session() as db:
        listed = await programme.list_events(db, include_drafts=staff)
    return await render("home.html", events=listed)


@pages.get("/lang/<code>")
async def switch_language(code: str) -> Response:
    response = redirect(safe_next(request.args.get("next")))
    if code in ("sv", "en"):
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax")
    return response


@pages.get("/e/<slug>")
async def event_page(slug: str) -> tuple[str, int]:
    principal = await current_principal()
    async with platform().db.session() as db:
        event = programme.visible(await programme.get_event(db, slug),
                                  principal is not None and principal.is_staff)
    registered = principal is not None and principal.event_id == event.id
    return await render("event.html", event=event, registered=registered)


@pages.route("/e/<slug>/register", methods=["GET", "POST"])
async def register_page(
    slug: str,
) -> tuple[str, int] | tuple[str, int, dict[str, str]] | Response:
    principal = await current_principal()
    async with platform().db.transaction() as db:
        event = programme.visible(await programme.get_event(db, slug),
                                  principal is not None and principal.is_staff)
        regions = await programme.regions(db)
        if request.method == "GET":
            refused = await refusal(db, event)
            return await render("register.html", event=event, regions=regions, form={}, errors={},
                                closed=refused.text(language()) if refused else "")
        form = {k: v for k, v in (await request.form).items() if k != "csrf_token"}
        try:
            await check_csrf()
        except DomainError:
            # An expired or missing token: nothing is stored, but the person keeps what they
            # typed and can send it again with the fresh token the re-rendered form carries.
            return await render(
                "register.html", 403, event=event, regions=regions, form=form, errors={},
                form_error=t("register.csrf"),
            )
        try:
            await require_rate(
                platform().store, f"register.{event.id}", client_address(),
                platform().settings.register_per_address, 3600, "registration.rate_limited",
                "För många anmälningar härifrån. Försök igen om en stund.")
        except DomainError as refused:  # they keep what they typed
            page, status = await render(
                "register.html", 429, event=event, regions=regions, form=form, errors={},
                form_error=refused.text(language()))
            return page, status, refused.headers
        try:
            reg = await register(db, event, RegistrationIn.model_validate(form),
                                 language=language())
        except ValidationError as exc:
            return await _register_errors(event, regions, form, field_errors(exc))
        except DomainError as refused:
            if refused.details.get("field") == "email":
                return await _register_errors(event, regions, form,
                                              {"email": ("error.email_required", {})})
            if refused.details.get("field") == "region":
                return await _register_errors(event, regions, form,
                                              {"region": ("error.region", {})})
            return await render(
                "register.html", refused.status, event=event, regions=regions, form=form,
                errors={}, form_error=refused.text(language()))
        outbox.to_registration(db, platform().settings, "confirmation", event, reg)
    platform().need(SENDER).wake()
    if reg.confirmed_at is None:  # the address first: the mail's link confirms and signs in
        return await render("registered.html", event=event, join_url="", confirm=True)
    await _start_participant_session(reg)
    return redirect(url_for("pages.registered", slug=slug))


async def _register_errors(event, regions, form, errors) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    messages = {name: t(key, **values) for name, (key, values) in errors.items()}
    return await render(
        "register.html", 422, event=event, regions=regions, form=form, errors=messages
    )


async def _start_participant_session(reg: Registration) -> None:
    await sign_in(registration_id=reg.id)


@pages.get("/e/<slug>/registered")
async def registered(slug: str) -> tuple[str, int]:
    principal = await require_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
        reg = await db.get(Registration, principal.id) if principal.kind == "participant" else None
    join_url = (
        f"{platform().settings.public_url}{url_for('pages.join', slug=slug, key=reg.join_key)}"
        if reg else ""
    )
    return await render("registered.html", event=event, join_url=join_url,
                        mailed=bool(reg and reg.email))


@pages.route("/e/<slug>/join/<key>", methods=["GET", "POST"])
async def join(slug: str, key: str) -> tuple[str, int] | Response:
    """The personal join link: works on any number of devices. Opened in a browser signed in
    as staff, it asks first (a moderator testing a participant's link must not lose the
    console's session without noticing); the answer is a POST."""
    async with platform().db.session() as db:
        event = programme.visible(await programme.get_event(db, slug), False)
        reg = await by_join_key(db, event, key)
    current = await current_principal()
    if request.method == "GET" and current is not None and current.is_staff:
        return await render("join_as_staff.html", event=event, reg=reg, key=key)
    if request.method == "POST":
        await check_csrf()
    if reg.confirmed_at is None:
        async with platform().db.transaction() as db:
            reg = await by_join_key(db, event, key)
            await confirm(db, event, reg)
    await _start_participant_session(reg)
    return redirect(url_for("pages.live", slug=slug))


@pages.get("/e/<slug>/live")
async def live(slug: str) -> tuple[str, int] | Response:
    principal = await current_principal()
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
    if principal is None or not (principal.is_staff or principal.event_id == event.id):
        return redirect(url_for("pages.register_page", slug=slug))
    return await render("live.html", event=event)


@pages.get("/e/<slug>/moderate")
async def console(slug: str) -> tuple[str, int]:
    await require_principal("moderator")
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
    return await render("console.html", event=event)


@pages.route("/login", methods=["GET", "POST"])
async def login() -> tuple[str, int] | tuple[str, int, dict[str, str]] | Response:
    if request.method == "GET":
        return await render("login.html", error=None)
    await check_csrf()
    form = await request.form
    username = str(form.get("username", ""))[:80]
    tries = _login_limits(username)
    for action, who, limit in tries:
        if not await platform().store.rates.allowed(action, who, limit, LOGIN_WINDOW):
            return await _login_refused(action, who, limit)
    async with platform().db.session() as db:
        user = await db.scalar(select(User).where(User.username == username))
    if not await check_password(user.password_hash if user else None,
                                str(form.get("password", ""))):
        for action, who, limit in tries:  # only failures count
            await platform().store.rates.hit(action, who, limit, LOGIN_WINDOW)
        return await render("login.html", 401, error=t("login.failed"))
    assert user is not None
    await sign_in(user_id=user.id)
    return redirect(safe_next(request.args.get("next")))


LOGIN_WINDOW = 15 * 60


def _login_limits(username: str) -> list[tuple[str, str, int]]:
    """Failed logins are limited per account (guessing one password) and per client address
    (trying many accounts); the account's limit is generous enough that someone trying it from
    elsewhere cannot lock its owner out for long."""
    settings = platform().settings
    return [("login.account", username.casefold(), settings.login_per_account),
            ("login.address", client_address(), settings.login_per_address)]


async def _login_refused(action: str, who: str, limit: int) -> tuple[str, int, dict[str, str]]:
    wait = await platform().store.rates.retry_after(action, who, limit, LOGIN_WINDOW)
    refused = DomainError("auth.rate_limited", "För många misslyckade inloggningar. Vänta "
                          "{minutes} minuter och försök igen.", minutes=max(1, wait // 60),
                          retry_after=wait)
    page, status = await render("login.html", 429, error=refused.text(language()))
    return page, status, refused.headers


@pages.post("/logout")
async def logout() -> Response:
    await check_csrf()
    await sign_out()
    return redirect("/")


# The accessibility statement (DIGG's model): who to contact, where to complain, and when the
# statement was drawn up and last reviewed. Review it (and move `reviewed`) when the service
# or its known shortcomings change.
STATEMENT = {
    "email": "kungl.biblioteket@kb.se",
    "complaint_url": "https://www.digg.se/tdosanmalan",
    "drawn_up": date(2026, 11, 22),
    "reviewed": date(2026, 12, 4),
}
REPORTS_SHOWN = 500


@pages.route("/tillganglighet", methods=["GET", "POST"])
async def accessibility() -> tuple[str, int]:
    if request.method == "GET":
        return await _statement(200, sent=False, error=None)
    await check_csrf()
    form = await request.form
    description = str(form.get("description", "")).strip()
    if not description or len(description) > 5000:
        error = t("error.required") if not description else t("error.too_long", max=5000)
        return await _statement(422, sent=False, error=error)
    await require_rate(platform().store, "accessibility.report", client_address(),
                       platform().settings.reports_per_address, 3600,
                       "accessibility.rate_limited",
                       "Vi har tagit emot många rapporter härifrån. Försök igen om en stund.")
    report = AccessibilityReport(
        description=description, page=str(form.get("page", ""))[:300],
        contact=str(form.get("contact", ""))[:254],
    )
    async with platform().db.transaction() as db:
        db.add(report)
    return await _statement(200, sent=True, error=None)


@pages.get("/integritet")
async def privacy() -> tuple[str, int]:
    """The privacy notice: what is stored, why, how long, and the person's rights."""
    settings = platform().settings
    return await render("privacy.html", retention_months=RETENTION_MONTHS,
                        mail_days=settings.mail_keep_days, contact=STATEMENT["email"])


async def _statement(status: int, **context: object) -> tuple[str, int]:
    return await render("accessibility.html", status, statement=STATEMENT, **context)


@pages.get("/tillganglighet/rapporter")
async def accessibility_reports() -> tuple[str, int]:
    """Reported accessibility problems, newest first, for moderators and admins to act on."""
    await require_principal("moderator")
    async with platform().db.session() as db:
        total = int(await db.scalar(select(func.count(AccessibilityReport.id))) or 0)
        reports = list(await db.scalars(
            select(AccessibilityReport)
            .order_by(AccessibilityReport.created_at.desc(), AccessibilityReport.id.desc())
            .limit(REPORTS_SHOWN)
        ))
    return await render("accessibility_reports.html", reports=reports, total=total)
