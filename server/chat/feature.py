"""Breakout-room chat (no node services of its own)."""

from server.chat import sockets
from server.chat.service import forget_author
from server.platform.feature import Feature

FEATURE = Feature("chat", sockets.router, forget=forget_author)
