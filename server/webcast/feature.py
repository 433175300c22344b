"""The webcast on a node: webcast.state broadcasts, the stage URLs for templates, and the
media-only node's narrow set of paths."""

from __future__ import annotations

from typing import Any

from quart import Quart

from server.platform.feature import Feature
from server.platform.node import Platform
from server.webcast import sockets, views
from server.webcast.service import WHEP_SESSIONS, StageBroadcaster, WhepSessions, stage_urls


def install(platform: Platform, app: Quart) -> None:
    StageBroadcaster(platform).install()
    platform.provide(WHEP_SESSIONS, WhepSessions(platform.settings.whep_sessions_per_person))
    public, media = platform.settings.media_public_url, platform.media

    @app.context_processor
    async def urls() -> dict[str, Any]:
        return {"webcast_urls": lambda event: stage_urls(
            public, event.slug, media.stage_id(event.id)).as_dict(),
                "webcast_retry_seconds": platform.settings.webrtc_retry_seconds}

    app.after_request(views.cors)
    if platform.settings.node_role == "media":
        app.before_request(views.media_only)


FEATURE = Feature("webcast", sockets.router, views.webcast_views, install, templates="webcast")
