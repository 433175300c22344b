"""Live captions: a captioner's lines to every viewer (no node services of its own)."""

from server.captions import sockets, views
from server.platform.feature import Feature

FEATURE = Feature("captions", sockets.router, views.captions_views, templates="captions")
