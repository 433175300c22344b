"""Staff from the browser: invitations, removal, password resets, and single sign-on with
OpenID Connect when a provider is configured."""

from __future__ import annotations

from quart import Quart

from server.platform.feature import Feature
from server.platform.node import Platform
from server.staff import views
from server.staff.sso import SSO, OpenIdConnect


def install(platform: Platform, app: Quart) -> None:
    platform.provide(SSO, OpenIdConnect(platform.settings))

    def sso_label() -> str:
        """The provider's name for the login page's button; "" without single sign-on."""
        return platform.settings.oidc_label if platform.need(SSO).enabled else ""

    app.jinja_env.globals["sso_label"] = sso_label


FEATURE = Feature("staff", blueprint=views.staff, install=install)
