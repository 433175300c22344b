"""KB's cycle view on a node: its pages (it only reads)."""

from __future__ import annotations

from server.cycle import views
from server.platform.feature import Feature

FEATURE = Feature("cycle", blueprint=views.cycle)
