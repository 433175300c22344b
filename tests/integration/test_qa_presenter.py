"""The presenter view on the venue's projector says when the stage is being recorded."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select, update

from server.platform.models import Event
from server.qa.views import PRESENTER_SALT
from server.recording.models import Recording

pytestmark = pytest.mark.integration


async def _setup(app) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    async with app.platform.db.session() as db:
        event_id = await db.scalar(select(Event.id).where(Event.slug == "hosten-2020"))
    key = URLSafeSerializer(app.platform.settings.secret_key, salt=PRESENTER_SALT).dumps(
        {"e": event_id})
    return key, event_id


async def test_projector_shows_the_recording_and_its_end(app, client) -> None:
    key, event_id = await _setup(app)
    state_url = f"/e/hosten-2020/presenter/state?key={key}"
    before = await client.get(state_url)
    assert (await before.get_json())["recording"] is False
    page = (await (await client.get(f"/e/hosten-2020/presenter?key={key}")).get_data()).decode()
    assert 'id="presenter-recording" class="recording" role="status" hidden' in page

    async with app.platform.db.transaction() as db:
        db.add(Recording(event_id=event_id, file_path="recordings/r.mp4", status="recording"))
    # The projector polls with the last ETag: a recording that starts must not be a 304.
    during = await client.get(state_url, headers={"If-None-Match": before.headers["ETag"]})
    assert during.status_code == 200
    assert (await during.get_json())["recording"] is True
    page = (await (await client.get(f"/e/hosten-2020/presenter?key={key}")).get_data()).decode()
    assert 'role="status">Scenen spelas in</p>' in page

    async with app.platform.db.transaction() as db:
        await db.execute(update(Recording).values(status="stopped"))
    after = await client.get(state_url, headers={"If-None-Match": during.headers["ETag"]})
    assert after.status_code == 200
    assert (await after.get_json())["recording"] is False
    unchanged = await client.get(state_url, headers={"If-None-Match": after.headers["ETag"]})
    assert unchanged.status_code == 304


async def test_with_captions_the_hall_screen_shows_the_line_being_read(app, client) -> None:
    from datetime import timedelta

    from server.captions.models import CaptionLine
    from server.platform.models import utcnow

    key, event_id = await _setup(app)
    with_captions = f"/e/hosten-2020/presenter/state?key={key}&captions=1"
    async with app.platform.db.transaction() as db:
        db.add(CaptionLine(event_id=event_id, text="Sagt för en stund sedan",
                           created_at=utcnow() - timedelta(seconds=20)))
    quiet = await client.get(with_captions)
    assert (await quiet.get_json())["caption"] is None, "an old line is no longer on screen"
    async with app.platform.db.transaction() as db:
        db.add(CaptionLine(event_id=event_id, text="Nu talar Anja Dahlstedt", created_at=utcnow()))
    fresh = await client.get(with_captions, headers={"If-None-Match": quiet.headers["ETag"]})
    assert fresh.status_code == 200, "a new line must not be a 304"
    assert (await fresh.get_json())["caption"]["text"] == "Nu talar Anja Dahlstedt"
    plain = await client.get(f"/e/hosten-2020/presenter/state?key={key}")
    assert (await plain.get_json())["caption"] is None, "captions only where asked for"
    page = (await (await client.get(
        f"/e/hosten-2020/presenter?key={key}&captions=1")).get_data()).decode()
    assert 'id="presenter-caption"' in page and 'data-captions="1"' in page
