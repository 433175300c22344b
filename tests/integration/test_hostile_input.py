"""No hostile input gives a 500 (issue 19, point 10): every HTTP route of the app, walked with
malformed path segments, query strings, headers and bodies, as an anonymous visitor, a
participant and an admin, answers below 500 and logs no ERROR. Hypothesis draws the inputs;
the cases outsiders found are in it by name. (Socket events: test_hostile_sockets.py.)"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.platform.auth import hash_password
from server.platform.models import User
from tests.conftest import get_csrf, register

pytestmark = pytest.mark.integration

SEGMENTS = st.one_of(
    st.sampled_from([
        "hosten-2020", "0", "-1", "10" + "0" * 30, "%C2%B2", "event-%C2%B2", "..", "%2e%2e",
        "%00", "%0d%0aX", "a" * 300, "ÅÄÖ", "😀", "%ZZ", "index.m3u8", "x.ts", "null",
    ]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
)
JSON_BODIES = st.one_of(
    st.sampled_from([[1], "x", None, 1e308, 10**30, {"answers": [1]}, {"answers": {"x": [[]]}},
                     {"version": "x", "answers": {}}, {"version": 10**30, "answers": {}}]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=20),
)
FORMS = st.dictionaries(st.sampled_from([
    "name", "email", "region", "organisation", "municipality", "job_role", "attendance",
    "username", "password", "description", "page", "contact", "retention_days", "title",
    "fields", "version", "deadline", "registration_id", "region_code", "rating", "comment",
    "start", "end", "speakers", "confirmed", "x",
]), st.text(max_size=60), max_size=8)
DEEP = "[" * 50_000 + "]" * 50_000


def fill(rule: str, segment: str) -> str:
    """The rule's path with every variable set to `segment` (ints stay ints: Werkzeug would
    route anything else to a 404 before our code). The segment is percent-encoded as a client
    sends it on the wire ("/", "?", "#" and non-ASCII text), its own "%" escapes kept."""
    path = re.sub(r"<int:[a-z_]+>", "1", rule)
    value = quote(segment, safe="%!$&'()*+,;=:@") or "x"
    return re.sub(r"<(?:path:)?[a-z_]+>", lambda _: value, path)  # a "\w" is text, not a group


@pytest.fixture
async def people(app: Any) -> dict[str, Any]:
    async with app.platform.db.transaction() as db:
        db.add(User(username="admin", display_name="Admin", role="admin",
                    password_hash=hash_password("admin-lösenord-1")))
    admin = app.quart.test_client()
    token = await get_csrf(admin, "/login")
    await admin.post("/login", form={"username": "admin", "password": "admin-lösenord-1",
                                     "csrf_token": token})
    participant = app.quart.test_client()
    assert (await register(participant)).status_code == 302
    return {"anonymous": app.quart.test_client(), "participant": participant, "admin": admin}


def rules(app: Any) -> list[tuple[str, str]]:
    out = []
    for rule in app.quart.url_map.iter_rules():
        if rule.endpoint in ("static", "swagger_ui", "openapi"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule))
    return out


async def ask(client: Any, method: str, path: str, **kwargs: Any) -> int:
    response = await client.open(path, method=method, **kwargs)
    return int(response.status_code)


def no_errors_logged(caplog: Any) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:300] for r in errors]


NAMED = [  # what outsiders found, by name
    ("GET", "/media/hls/event-%C2%B2/index.m3u8", {}),
    ("GET", "/media/hls/%C2%B2/%C2%B2", {}),
    ("GET", "/lang/en?next=/%0d%0aX", {}),
    ("GET", "/lang/en?next=/\\evil.example/", {}),
    ("POST", "/e/hosten-2020/feedback/regions/M/draft", {"json": [1]}),
    ("POST", "/e/hosten-2020/feedback/regions/M/draft", {"json": "x"}),
    ("POST", "/e/hosten-2020/feedback/regions/M/draft",
     {"data": DEEP, "headers": {"Content-Type": "application/json"}}),
    ("POST", "/e/hosten-2020/register", {"form": {
        "name": "Nul\x00Nulsson", "email": "a@b.se", "organisation": "x", "municipality": "x",
        "region": "M", "job_role": "x", "attendance": "online"}}),
    ("POST", "/login", {"form": {"username": "\x00", "password": "\x00"}}),
    ("POST", "/tillganglighet", {"form": {"description": "\x00"}}),
    ("POST", "/whep/hosten-2020",
     {"data": "v=0\r\na=mid:å\r\n", "headers": {"Content-Type": "application/sdp"}}),
    ("POST", "/whip/hosten-2020",
     {"data": "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
      "headers": {"Content-Type": "application/sdp", "Authorization": "Bearer x"}}),
]


@pytest.mark.parametrize("who", ["anonymous", "participant", "admin"])
async def test_what_outsiders_found_answers_below_500(people, caplog, who: str) -> None:
    client = people[who]
    token = await get_csrf(client, "/")
    for method, path, kwargs in NAMED:
        headers = {"X-CSRF-Token": token, "Accept": "application/json",
                   **kwargs.pop("headers", {})}
        status = await ask(client, method, path, headers=headers, **kwargs)
        assert 300 <= status < 500 or status == 200, (method, path, status)
    no_errors_logged(caplog)


QUICK = settings(max_examples=200, deadline=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("who", ["anonymous", "participant", "admin"])
async def test_every_route_survives_hostile_paths_and_bodies(people, app, caplog, who) -> None:
    client = people[who]
    token = await get_csrf(client, "/")
    routes = rules(app)

    @QUICK
    @given(st.sampled_from(routes), SEGMENTS, JSON_BODIES, FORMS, st.booleans())
    async def walk(route, segment, body, form, as_json) -> None:  # type: ignore[no-untyped-def]
        method, rule = route
        path = fill(rule, segment)
        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        kwargs: dict[str, Any] = {"headers": headers}
        if method in ("POST", "PUT", "PATCH"):
            if as_json:
                kwargs["data"] = json.dumps(body)
                headers["Content-Type"] = "application/json"
            else:
                kwargs["form"] = {**form, "csrf_token": token}
        status = await ask(client, method, path, **kwargs)
        assert status < 500, (method, path, status)

    await walk_async(walk)
    no_errors_logged(caplog)


async def walk_async(test: Any) -> None:
    """Hypothesis runs an `async def` test body through the running loop's executor: run each
    example to completion here instead (the app lives on this loop)."""
    inner = test.hypothesis.inner_test
    examples: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def collect(*args: Any, **kwargs: Any) -> None:
        examples.append((args, kwargs))

    test.hypothesis.inner_test = collect
    test()
    test.hypothesis.inner_test = inner
    for args, kwargs in examples:
        await inner(*args, **kwargs)


async def test_a_nul_in_the_path_is_not_found_not_a_database_error(client, caplog) -> None:  # type: ignore[no-untyped-def]
    """`%00` in a slug reached PostgreSQL, which refuses NUL in any text: 500."""
    for path in ("/e/hosten-2020\x00/register", "/e/\x00/live"):
        assert (await client.get(path)).status_code == 404
    answer = await client.get("/e/\x00/register", headers={"Accept": "application/json"})
    assert answer.status_code == 404
    no_errors_logged(caplog)
