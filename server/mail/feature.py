"""E-mail on a node: the outbox's sender (every node runs one; claims keep them apart)."""

from __future__ import annotations

from quart import Quart

from server.mail import views
from server.mail.outbox import forget_recipient
from server.mail.sender import SENDER, MailSender
from server.platform.feature import Feature
from server.platform.node import Platform


def install(platform: Platform, app: Quart) -> None:
    sender = platform.provide(SENDER, MailSender(platform.db, platform.settings))
    if platform.settings.node_role != "media":  # a media node serves no pages and sends no mail
        platform.lifecycle.add("mail", sender.start, sender.stop)


FEATURE = Feature("mail", blueprint=views.mail, install=install, forget=forget_recipient)
