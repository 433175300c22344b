"""The webcast on a node: stage.state broadcasts, the stage URLs for templates, and the
media-only node's narrow set of paths."""

from __future__ import annotations

from typing import Any

from quart import Quart

from server.platform.feature import Feature
from server.platform.node import Platform
from server.webcast import sockets, views
from server.webcast.service import StageBroadcaster, stage_urls


def install(platform: Platform, app: Quart) -> None:
    StageBroadcaster(platform).install()
    public = platform.settings.media_public_url

    @app.context_processor
    async def urls() -> dict[str, Any]:
        return {"webcast_urls": lambda event: stage_urls(public, event.slug, event.id).as_dict()}

    if platform.settings.node_role == "media":
        app.before_request(views.media_only)


FEATURE = Feature("webcast", sockets.router, views.webcast_views, install, templates="webcast")
