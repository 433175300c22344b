"""Regional feedback tied to the breakout rooms, on the real PostgreSQL: who drafts and submits
a region's response once rooms exist, and pulling a room's real notes into an answer."""

from __future__ import annotations

from typing import Any

from pycrdt import Map, Text
from sqlalchemy import select

from rooms.notes import THEMES, NotesRoom
from rooms.notes_client import NotesClient
from server.breakout import service as breakout
from server.notes.service import REGISTRY
from server.platform.auth import Principal
from server.platform.models import User
from tests.conftest import get_csrf
from tests.integration.test_feedback_http import (
    BASE,
    COMPLETE,
    participant,
    post_json,
    registration_id,
    staff,
)
from tests.integration.test_notes_support import Rooms, make_rooms

ACCEPT = {"Accept": "application/json"}
THEME_KEYS = ["utformning", "anvandning", "uppfoljning", "kris"]  # the demo event's themes


async def moderator(app: Any) -> tuple[Any, Principal]:
    client = await staff(app, "mod", "moderator")
    async with app.platform.db.session() as db:
        user = await db.scalar(select(User).where(User.username == "mod"))
    assert user is not None
    return client, Principal("user", user.id, user.display_name, "moderator")


async def move(app: Any, actor: Principal, rooms: Rooms, name: str, room: str) -> None:
    """A moderator moves a participant by hand, as the console's `breakout.move` does."""
    reg = await registration_id(app, name)
    async with app.platform.db.transaction() as db:
        await breakout.move(db, actor, rooms.event_id, reg, rooms.ids[room])


async def skane_and_norrbotten(app: Any, url: str) -> tuple[dict[str, Any], Rooms, Any]:
    """Anna facilitates the Skåne room; Cecilia (Norrbotten) is moved into it by hand and Bo
    (Skåne) out of it; Olle (Stockholm) sits in the Stockholm room."""
    people = {
        "anna": await participant(app, "M", "Anna Åkesson"),
        "bo": await participant(app, "M", "Bo Öberg"),
        "cecilia": await participant(app, "BD", "Cecilia Lindström"),
        "olle": await participant(app, "AB", "Olle Ek"),
    }
    ids = {
        n: await registration_id(app, n)
        for n in ("Anna Åkesson", "Bo Öberg", "Cecilia Lindström", "Olle Ek")
    }
    rooms = await make_rooms(
        url,
        {
            "skane": {
                "name": "Skåne",
                "regions": ["M"],
                "members": [ids["Bo Öberg"]],
                "facilitator": ids["Anna Åkesson"],
            },
            "norr": {
                "name": "Norrbotten",
                "regions": ["BD"],
                "members": [ids["Cecilia Lindström"]],
            },
            "sthlm": {"name": "Stockholm", "regions": ["AB"], "members": [ids["Olle Ek"]]},
        },
    )
    mod, actor = await moderator(app)
    await move(app, actor, rooms, "Cecilia Lindström", "skane")
    await move(app, actor, rooms, "Bo Öberg", "norr")
    return people, rooms, mod


async def test_the_skane_room_drafts_its_facilitator_submits_others_are_refused(
    app: Any, clean_db: str
) -> None:
    people, _, mod = await skane_and_norrbotten(app, clean_db)
    cecilia, anna, bo, olle = people["cecilia"], people["anna"], people["bo"], people["olle"]

    assert (await cecilia.get(f"{BASE}/regions/M")).status_code == 200
    draft = await post_json(
        cecilia, f"{BASE}/regions/M/draft", {"version": 0, "answers": {"uppfoljning": "Utkast"}}
    )
    assert draft.status_code == 200, "moved by hand into the Skåne room: drafts Skåne's answer"
    refused = await post_json(
        cecilia, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE}
    )
    assert refused.status_code == 403, "a member drafts, only the facilitator submits"
    entry = await cecilia.get(f"{BASE}")
    assert entry.headers["Location"].endswith("/regions/M"), "sent to her room's region"

    page = (await (await anna.get(f"{BASE}/regions/M")).get_data()).decode()
    assert "Anna Åkesson" in page and 'id="feedback-submit"' in page
    sent = await post_json(anna, f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE})
    assert sent.status_code == 200, "the room's facilitator submits"
    assert (await sent.get_json())["status"] == "submitted"

    for outsider in (olle, bo):  # another region; and Skåne's own Bo, moved to another room
        assert (await outsider.get(f"{BASE}/regions/M")).status_code == 403
        changed = await post_json(
            outsider, f"{BASE}/regions/M/draft", {"version": 2, "answers": {"uppfoljning": "X"}}
        )
        assert changed.status_code == 403
        assert (await outsider.get(f"{BASE}/regions/M/response", headers=ACCEPT)).status_code == 403
    board = (await (await mod.get(f"{BASE}/dashboard")).get_data()).decode()
    assert 'id="state-M">Inskickad' in board


async def test_a_facilitator_chosen_on_the_dashboard_submits_instead_of_the_rooms(
    app: Any, clean_db: str
) -> None:
    people, _, mod = await skane_and_norrbotten(app, clean_db)
    cecilia = await registration_id(app, "Cecilia Lindström")
    board = (await (await mod.get(f"{BASE}/dashboard")).get_data()).decode()
    assert f'value="r:{cecilia}">Cecilia Lindström' in board, "room members can be chosen"
    csrf = await get_csrf(mod, f"{BASE}/dashboard")
    chosen = await mod.post(
        f"{BASE}/facilitator", form={"region": "M", "who": f"r:{cecilia}", "csrf_token": csrf}
    )
    assert chosen.status_code == 302, "a member of the Skåne room, though registered in BD"
    by_room = await post_json(
        people["anna"], f"{BASE}/regions/M/submit", {"version": 0, "answers": COMPLETE}
    )
    assert by_room.status_code == 403, "the chosen facilitator replaces the room's"
    assert (
        await post_json(people["anna"], f"{BASE}/regions/M/draft", {"version": 0, "answers": {}})
    ).status_code == 200, "the room's facilitator still drafts as a member"
    by_choice = await post_json(
        people["cecilia"], f"{BASE}/regions/M/submit", {"version": 1, "answers": COMPLETE}
    )
    assert by_choice.status_code == 200


async def test_without_a_round_the_registration_region_decides(app: Any) -> None:
    skane = await participant(app, "M", "Bo Öberg")
    other = await participant(app, "BD", "Cecilia Lindström")
    ok = await post_json(skane, f"{BASE}/regions/M/draft", {"version": 0, "answers": {}})
    assert ok.status_code == 200
    assert (await other.get(f"{BASE}/regions/M")).status_code == 403


async def write_notes(app: Any, room_id: int, theme: str, text: str) -> None:
    """Type into a room's notes as an editor does: a pycrdt peer synced with the room, whose
    updates go to the node's notes storage (buffered, as on a live node)."""
    room = await NotesRoom.open(str(room_id), THEME_KEYS, app.platform.need(REGISTRY).storage)
    peer = NotesClient()
    for _, message in await room.handle(peer.hello(), "peer"):  # the server's sections
        peer.receive(message)
    section = peer.doc.get(THEMES, type=Map)[theme]
    assert isinstance(section, Text)
    section += text
    for message in peer.take_outbox():
        await room.handle(message, "peer")
    assert room.texts()[theme] == text


async def test_pull_returns_the_rooms_real_notes_with_swedish_letters(
    app: Any, clean_db: str
) -> None:
    people, rooms, _ = await skane_and_norrbotten(app, clean_db)
    notes = "Skåne: kriserna visade att ändrade öppettider når få; åtgärd – fler övningar."
    await write_notes(app, rooms.ids["skane"], "kris", notes)
    await write_notes(app, rooms.ids["norr"], "kris", "Norrbotten: inte Skånes text.")
    pulled = await people["cecilia"].get(f"{BASE}/regions/M/notes?theme=kris", headers=ACCEPT)
    assert pulled.status_code == 200
    assert (await pulled.get_json()) == {"text": notes}, "only the Skåne room, å ä ö intact"
    other = await people["anna"].get(f"{BASE}/regions/M/notes?theme=utformning", headers=ACCEPT)
    assert (await other.get_json()) == {"text": ""}, "another theme of the room is still empty"
    refused = await people["olle"].get(f"{BASE}/regions/M/notes?theme=kris", headers=ACCEPT)
    assert refused.status_code == 403


async def test_once_rooms_exist_the_region_typed_at_registration_opens_nothing(
    app: Any, clean_db: str
) -> None:
    """Issue 19: Görel registers for Gotland (I) and Ulla for Uppsala (C), regions the round
    gives no room. Before any round, the registration's region is all there is to go by; once
    the event has rooms, neither reads Gotland's notes nor writes its draft."""
    gorel = await participant(app, "I", "Görel Ahlgren")
    early = await post_json(
        gorel, f"{BASE}/regions/I/draft", {"version": 0, "answers": {"uppfoljning": "Före"}})
    assert early.status_code == 200, "no rooms yet: Gotland's participants draft Gotland's answer"

    ulla = await participant(app, "I", "Ulla Sjöberg")
    await make_rooms(clean_db, {"skane": {"name": "Skåne", "regions": ["M"], "members": []}})

    for outsider in (gorel, ulla):
        assert (await outsider.get(f"{BASE}/regions/I")).status_code == 403
        notes = await outsider.get(f"{BASE}/regions/I/notes?theme=kris", headers=ACCEPT)
        assert notes.status_code == 403, "no room for Gotland: its notes are not hers to read"
        over = await post_json(
            outsider, f"{BASE}/regions/I/draft", {"version": 1, "answers": {"kris": "Över"}})
        assert over.status_code == 403, "and its draft is not hers to overwrite"
