"""The features of the platform, in one table: what each adds to a node.

A feature is a socket router (`server/sockets/<feature>.py`), a blueprint
(`server/views/<feature>.py`) and optionally an `install(platform, app)` that builds the
services it owns on the node and ties them to the app's start and stop. The composition root
(server/app.py) walks this table; adding a feature is one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quart import Blueprint

from server.breakout import sockets as breakout_sockets
from server.breakout import views as breakout_views
from server.captions import sockets as captions_sockets
from server.captions import views as captions_views
from server.chat import sockets as chat_sockets
from server.feedback import sockets as feedback_sockets
from server.feedback import views as feedback_views
from server.notes import sockets as notes_sockets
from server.notes import views as notes_views
from server.platform.sockets import Router
from server.polls import sockets as polls_sockets
from server.programme import sockets as programme_sockets
from server.qa import sockets as qa_sockets
from server.qa import views as qa_views
from server.recording import sockets as recording_sockets
from server.recording import views as archive_views
from server.room_media import sockets as room_media_sockets
from server.webcast import sockets as webcast_sockets
from server.webcast import views as webcast_views


@dataclass(frozen=True)
class Feature:
    name: str
    router: Router | None = None
    blueprint: Blueprint | None = None
    install: Callable[[Any, Any], Any] | None = None
    templates: str | None = None
    """Folder under templates/ whose `_live_panel.html`, `_live_scripts.html`,
    `_console_panel.html` and `_console_scripts.html` the live page and console include."""


FEATURES: tuple[Feature, ...] = (  # in the order their panels appear
    Feature("programme", programme_sockets.router),
    Feature("webcast", webcast_sockets.router, webcast_views.webcast_views, webcast_views.install,
            templates="webcast"),
    Feature("qa", qa_sockets.router, qa_views.qa_views, templates="qa"),
    Feature("polls", polls_sockets.router, None, polls_sockets.install, templates="polls"),
    Feature("captions", captions_sockets.router, captions_views.captions_views,
            captions_sockets.install, templates="captions"),
    Feature("breakout", breakout_sockets.router, breakout_views.breakout_views,
            breakout_sockets.install, templates="breakout"),
    Feature("chat", chat_sockets.router),
    Feature("room_media", room_media_sockets.router, None, room_media_sockets.install),
    Feature("notes", notes_sockets.router, notes_views.notes_views, notes_sockets.install),
    Feature("feedback", feedback_sockets.router, feedback_views.feedback, templates="feedback"),
    Feature("recording", recording_sockets.router, archive_views.archive, templates="recording"),
)

TEMPLATE_FOLDERS = tuple(f.templates for f in FEATURES if f.templates)
