"""Mail pages: "send me my link again" for participants, and the outbox for admins (the only
way mail reaches anyone when no SMTP server is configured)."""

from __future__ import annotations

import hashlib
import re

from quart import Blueprint, redirect, request, url_for
from werkzeug.wrappers.response import Response

from server.mail import outbox
from server.mail.models import MAIL_STATES
from server.mail.sender import SENDER
from server.platform import audit, programme
from server.platform.errors import DomainError
from server.platform.registration import EMAIL
from server.platform.store import require_rate
from server.platform.web import (
    check_csrf,
    client_address,
    language,
    platform,
    render,
    require_principal,
    t,
)

mail = Blueprint("mail", __name__)
LINK_PER_ADDRESS = 10
"""Link requests per client address an hour (then 429)."""
LINK_PER_EMAIL = 3
"""Mails per e-mail address an hour: beyond it a request is answered the same but sends
nothing, so no one can fill a stranger's inbox through us."""


@mail.route("/e/<slug>/link", methods=["GET", "POST"])
async def resend_link(slug: str) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    async with platform().db.session() as db:
        event = await programme.get_event(db, slug)
    if request.method == "GET":
        return await render("mail/link.html", event=event, sent=False, error=None, email="",
                            errors={})
    await check_csrf()
    email = str((await request.form).get("email", "")).strip()[:254]
    if not re.match(EMAIL, email):
        return await render("mail/link.html", 422, event=event, sent=False,
                            error=t("error.email"), email=email, errors={"email": t("error.email")})
    try:
        await require_rate(platform().store, "mail.link", client_address(), LINK_PER_ADDRESS,
                           3600, "mail.rate_limited",
                           "För många förfrågningar härifrån. Försök igen om en stund.")
    except DomainError as refused:
        page, status = await render("mail/link.html", 429, event=event, sent=False,
                                    error=refused.text(language()), email=email, errors={})
        return page, status, refused.headers
    hashed = hashlib.sha256(email.casefold().encode()).hexdigest()
    if await platform().store.rates.hit("mail.link.email", hashed, LINK_PER_EMAIL, 3600):
        async with platform().db.transaction() as db:
            outbox.link_request(db, event, email)
        platform().need(SENDER).wake()
    return await render("mail/link.html", event=event, sent=True, error=None, email="",
                        errors={})


@mail.get("/admin/mail")
async def outbox_page() -> tuple[str, int]:
    await require_principal("admin")
    state = request.args.get("state")
    state = state if state in MAIL_STATES else None
    async with platform().db.session() as db:
        rows = await outbox.listing(db, state)
        counts = await outbox.counts(db)
    return await render("mail/outbox.html", rows=rows, counts=counts, state=state,
                        configured=platform().need(SENDER).configured)


@mail.post("/admin/mail/<int:ident>/retry")
async def retry(ident: int) -> Response:
    principal = await require_principal("admin")
    await check_csrf()
    async with platform().db.transaction() as db:
        if await outbox.retry(db, ident):
            audit.record(db, principal, None, "mail.retry", str(ident))
    platform().need(SENDER).wake()
    return redirect(url_for("mail.outbox_page", state="failed"))
