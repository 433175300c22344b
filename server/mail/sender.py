"""The outbox's sender: one task per node. Every few seconds (at once when this node enqueued
something) it does the housekeeping (link requests, reminders, old mail) and, when an SMTP
server is configured, sends what is due over one connection, each message claimed first so two
nodes never send the same one. A message the server refuses for good (5xx for its recipient)
is failed; anything else (the server down, a timeout, 4xx) is tried again after a backoff.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import aiosmtplib

from server.mail import messages, outbox
from server.mail.models import OutboxMessage
from server.platform.db import Database
from server.platform.models import utcnow
from server.platform.node import Key
from server.platform.settings import Settings

log = logging.getLogger(__name__)
POLL_SECONDS = 5.0
SMTP_TIMEOUT = 20.0


class MailSender:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    def wake(self) -> None:
        """Something was enqueued here: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-sender")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again at the next poll
                log.exception("mail: a pass of the outbox failed")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass; how many messages were sent."""
        async with self._lock:
            now = now or utcnow()
            async with self.db.transaction() as db:
                await outbox.resolve_link_requests(db, self.settings)
                await outbox.enqueue_reminders(db, self.settings, now)
                await outbox.purge(db, self.settings, now)
            if not self.configured:
                return 0
            return await self._send_due(now)

    async def _send_due(self, now: datetime) -> int:
        async with self.db.transaction() as db:
            ids = [i for i in await outbox.due_ids(db, now) if await outbox.claim(db, i, now)]
        if not ids:
            return 0
        sent = 0
        try:
            async with self._client() as smtp:
                for ident in ids:
                    sent += await self._send_one(smtp, ident, now)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # The server is away (refused, timed out, dropped us): every claimed message not
            # yet sent is due again after its backoff.
            async with self.db.transaction() as db:
                for ident in ids:
                    row = await db.get(OutboxMessage, ident)
                    if row is not None and row.state == "queued" and row.claimed_until:
                        await outbox.failed(db, ident, _describe(exc), permanent=False,
                                            now=now)
        return sent

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, timeout=SMTP_TIMEOUT,
            use_tls=s.smtp_security == "tls",
            start_tls=True if s.smtp_security == "starttls" else False,
            username=s.smtp_username or None, password=s.smtp_password or None,
        )

    async def _send_one(self, smtp: aiosmtplib.SMTP, ident: int, now: datetime) -> int:
        async with self.db.session() as db:
            row = await db.get(OutboxMessage, ident)
            if row is None:  # its registration was deleted meanwhile
                return 0
            to, subject, body, calendar = row.to_address, row.subject, row.body, row.calendar
        try:
            message = messages.email_message(self.settings, to=to, subject=subject, body=body,
                                             calendar=calendar)
        except ValueError as exc:  # an address no server would take: never try again
            async with self.db.transaction() as db:
                await outbox.failed(db, ident, f"address: {exc}", permanent=True, now=now)
            return 0
        try:
            await smtp.send_message(message, recipients=[message["To"].addresses[0].addr_spec])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(r.code >= 500 for r in exc.recipients)
            async with self.db.transaction() as db:
                await outbox.failed(db, ident, _describe(exc), permanent=permanent, now=now)
            return 0
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code in (421,) or exc.code < 500:  # the server's own trouble: later
                raise
            async with self.db.transaction() as db:
                await outbox.failed(db, ident, _describe(exc), permanent=True, now=now)
            return 0
        async with self.db.transaction() as db:
            await outbox.sent(db, ident)
        return 1


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


SENDER = Key("mail.sender", MailSender)
