"""Proposals on a node: their pages (no services of their own)."""

from __future__ import annotations

from server.platform.feature import Feature
from server.proposals import views
from server.proposals.service import forget

FEATURE = Feature("proposals", blueprint=views.proposals, forget=forget)
