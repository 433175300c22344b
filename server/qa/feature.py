"""Live Q&A (no node services of its own: questions and votes live in the database)."""

from server.platform.feature import Feature
from server.qa import sockets, views
from server.qa.service import forget_author

FEATURE = Feature("qa", sockets.router, views.qa_views, templates="qa", forget=forget_author)
