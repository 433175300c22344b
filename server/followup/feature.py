"""Follow-up meetings on a node: their pages (the room is breakout's)."""

from __future__ import annotations

from server.followup import views
from server.platform.feature import Feature

FEATURE = Feature("followup", blueprint=views.followup)
