"""Staff from the browser: invitations, removal and password resets (no node services)."""

from server.platform.feature import Feature
from server.staff import views

FEATURE = Feature("staff", blueprint=views.staff)
