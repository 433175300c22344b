"""`feedback.*` socket events on a real server: who may watch, and live status for KB."""

from __future__ import annotations

from tests.conftest import ARCHIVIST
from tests.helpers import Browser

SLUG = "hosten-2020"


async def test_kb_dashboard_hears_a_region_save_and_other_regions_cannot_watch(demo_server) -> None:
    kb, writer, other = (Browser(demo_server.url) for _ in range(3))
    await kb.login(*ARCHIVIST)
    await writer.register(name="Åsa Öberg", region="M")
    await other.register(name="Olle Ek", region="AB")
    kb_client, other_client = await kb.connect(), await other.connect()
    try:
        assert (await kb_client.call("feedback.watch", {"region_code": None}))["ok"]
        refused = await other_client.call("feedback.watch", {"region_code": "M"})
        assert refused["ok"] is False and refused["error"]["code"] == "auth.forbidden"
        dashboard = await other_client.call("feedback.watch", {"region_code": None})
        assert dashboard["ok"] is False, "participants do not watch KB's dashboard"
        await writer.page(f"/e/{SLUG}/feedback/regions/M")
        saved = await writer.http.post(
            f"/e/{SLUG}/feedback/regions/M/draft",
            json={"version": 0, "answers": {"uppfoljning": "Utkast"}},
            headers={"X-CSRF-Token": writer.csrf},
        )
        assert saved.status_code == 200
        status = await kb_client.wait_for("feedback.status", lambda d: d["region_code"] == "M")
        assert status["status"] == "draft" and status["updated_by"] == "Åsa Öberg"
        assert not [e for e, d in other_client.events if e.startswith("feedback.")]
    finally:
        for c in (kb_client, other_client):
            await c.close()
        for b in (kb, writer, other):
            await b.close()
