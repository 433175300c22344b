"""Dress rehearsal (issue 25): the day on the production topology, with faults, checked against
what clients were told was saved.

Topology, all on this machine: Debian's nginx with deploy/nginx.conf (tests/nginx.py adapts only
paths and addresses) in front of two web nodes (`traffpunkt serve --no-media`) and a media node
(`--media-only`), a Redis of the rehearsal's own (so it can be stopped), and the machine's
PostgreSQL (database `rehearsal`; restarted with pg_ctlcluster as root, the fault is skipped
and said so otherwise).

The scripted event: participants (default 400) connect through nginx from several source
addresses (nginx's ip_hash spreads them over the two web nodes as it would real people), ask
and vote in the Q&A, answer a poll and chat in their region's breakout room (21 rooms, one per
region); two editors per room write notes under the §18 themes; a captioner writes lines; each
region's facilitator autosaves the regional feedback over HTTP. Every client reconnects by
itself when its connection drops, as the pages do. The stage (bench/rehearsal_media.py): an
encoder publishes over WHIP, which starts the recording (the event records automatically);
20 of the participants watch over WHEP and 60 over HLS, through nginx, from an address of
their own.

Faults, each at a scripted moment while writes are in flight: SIGKILL of one web node (restarted
after 2 s, as compose would), Redis stopped for 5 s, SIGKILL of the media node (restarted),
PostgreSQL restarted.

After the day the moderator stops the recording and the archivist publishes it (through nginx,
as in the browser) and fetches its BagIt package, which is validated with bagit.

At the end every acknowledged write (question, vote, poll answer, chat line, caption line, notes
text, feedback save) is looked for in the database, in the exports and in the archival
package's record; the recording's parts are read with ffprobe (no gap inside a part longer than
one fragment, at most one fragment missing before the media node's kill); each HLS player
checked the playlist as RFC 8216 asks of a live one across the restart. The table per fault
gives the time until every client was back (p50/p99/max), the writes acknowledged, stored and
lost in its window, and for the stage how many players and viewers lost the picture and when
they had it again; the last line is JSON. Goals: nothing acknowledged is lost; every client,
the stage's included, back within 10 s of each fault (p99); the recording loses at most one
fragment per fault; the playlist stays continuous; the package is valid.

    python bench/rehearsal.py [--participants 400] [--seconds-per-phase 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import METRICS_TOKEN, ROOT, free_port, fresh_database, wait_port  # noqa: E402
from bench.rehearsal_media import (  # noqa: E402
    MediaTally,
    media_main,
    package_rows,
    publish,
    recording_parts,
)

SECRET = "rehearsal-secret-key-0123456789abcdef"
SLUG = "hosten-2020"
DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/rehearsal"
GOAL_BACK_S = 10.0
# A stall of the stage's picture that begins this long after a fault is over is still the
# fault's (a player plays its buffer first; a viewer notices after 3 s).
STAGE_SETTLE_S = 8.0
PICTURE_LOST_S = 1.0  # a shorter stall is a stutter (counted), not the picture lost
OUTAGE = ("service.unavailable", "server.error", "unreachable", "?")  # not a person's mistake
THEMES = ["utformning", "anvandning", "uppfoljning", "kris"]
REGISTRANTS = 40  # people who register through the form during the day
MEDIA_WATCHERS = {"whep": 20, "hls": 60}  # of the participants, watching the stage as well
WORKERS = 4  # client processes, each from its own /24 of loopback addresses (ip_hash spreads)


# --------------------------------------------------------------------------- the event's data


async def prepare(url: str, participants: int) -> dict[str, Any]:
    """A fresh schema, the demo event, registrations spread over the 21 regions, one open round
    with a room per region, an open poll, and a token for each client."""
    from server.breakout.models import BreakoutAssignment, BreakoutRoom, BreakoutRound
    from server.feedback import service as feedback
    from server.platform.auth import Principal, Tokens, hash_password
    from server.platform.db import Database, upgrade_async
    from server.platform.keys import stage_id
    from server.platform.models import Region, Registration, User
    from server.polls.models import Poll
    from server.programme.importer import import_event, read_event_file
    from server.recording.models import RecordingOptions
    from server.webcast.service import rotate_token, stage_urls

    await fresh_database(url)
    await upgrade_async(url)
    db, tokens = Database(url), Tokens(SECRET)
    from sqlalchemy import select

    async with db.transaction() as s:
        event = await import_event(s, read_event_file(ROOT / "server/data/demo_event.json"))
        regions = [r.code for r in await s.scalars(select(Region).order_by(Region.code))]
        round_ = BreakoutRound(event_id=event.id, status="open")
        s.add(round_)
        await s.flush()
        rooms: dict[str, int] = {}
        for n, code in enumerate(regions):
            room = BreakoutRoom(round_id=round_.id, event_id=event.id, key=f"r-{code}",
                                name=f"Rum {code}", regions=[code], position=n)
            s.add(room)
            await s.flush()
            rooms[code] = room.id
        poll = Poll(event_id=event.id, question="Har er kommun en antagen biblioteksplan?",
                    options=["Ja", "Nej", "Vet inte"], status="open")
        s.add(poll)
        moderator = User(username="moderator", display_name="Moderator", role="moderator",
                         password_hash=hash_password("rehearsal-password-1"))
        captioner = User(username="skrivtolk", display_name="Skrivtolk", role="captioner",
                         password_hash=hash_password("rehearsal-password-1"))
        archivist = User(username="arkivarie", display_name="Arkivarie", role="archivist",
                         password_hash=hash_password("rehearsal-password-1"))
        s.add_all([moderator, captioner, archivist])
        s.add(RecordingOptions(event_id=event.id, auto_record=True))  # live is recorded
        await s.flush()
        stage_token, _ = await rotate_token(
            s, Principal("user", moderator.id, "Moderator", "moderator"), event.id)
        people: list[dict[str, Any]] = []

        async def person(name: str, code: str) -> Registration:
            reg = Registration(event_id=event.id, name=name, organisation=f"Bibliotek {code}",
                               municipality=f"Kommun {code}", region_code=code,
                               join_key=f"rehearsal-{name}-{random.random()}".replace(" ", "-"),
                               attendance="online")
            s.add(reg)
            await s.flush()
            s.add(BreakoutAssignment(round_id=round_.id, registration_id=reg.id,
                                     room_id=rooms[code]))
            return reg

        for n in range(participants):
            code = regions[n % len(regions)]
            reg = await person(f"Deltagare {n}", code)
            principal = Principal("participant", reg.id, reg.name, event_id=event.id)
            people.append({"kind": "participant", "token": tokens.socket_token(principal, event.id),
                           "room": rooms[code], "name": reg.name, "key": reg.join_key})
        editors, facilitators = [], []
        for code in regions:
            for e in range(2):
                reg = await person(f"Redaktör {code}-{e}", code)
                principal = Principal("participant", reg.id, reg.name, event_id=event.id)
                editors.append({"kind": "editor", "room": rooms[code], "name": reg.name,
                                "token": tokens.socket_token(principal, event.id)})
            reg = await person(f"Samtalsledare {code}", code)
            mod = Principal("user", moderator.id, "Moderator", "moderator")
            await feedback.set_facilitator(s, mod, event.id, code, reg.id)
            facilitators.append({"kind": "facilitator", "region": code, "key": reg.join_key,
                                 "name": reg.name})
        registrants = [{"kind": "registrant", "name": f"Nyanmäld {n}",
                        "region": regions[n % len(regions)]} for n in range(REGISTRANTS)]
        captioner_token = tokens.socket_token(
            Principal("user", captioner.id, "Skrivtolk", "captioner"), event.id)
        moderator_token = tokens.socket_token(
            Principal("user", moderator.id, "Moderator", "moderator"), event.id)
        await s.flush()
        poll_id, event_id = poll.id, event.id
    await db.close()
    watchers = people[:MEDIA_WATCHERS["whep"] + MEDIA_WATCHERS["hls"]]
    media = {"stage_token": stage_token,
             "whep": [{"token": p["token"], "key": p["key"]}
                      for p in watchers[:MEDIA_WATCHERS["whep"]]],
             "hls_keys": [p["key"] for p in watchers[MEDIA_WATCHERS["whep"]:]],
             "hls_path": stage_urls("", SLUG, stage_id(event_id, SECRET)).hls}
    return {"event_id": event_id, "poll_id": poll_id, "people": people, "editors": editors,
            "media": media, "registrants": registrants,
            "facilitators": facilitators,
            "captioner": {"kind": "captioner", "token": captioner_token, "name": "Skrivtolk"},
            "moderator": {"kind": "moderator", "token": moderator_token, "name": "Moderator"}}


# --------------------------------------------------------------------------- the topology


@dataclass
class Node:
    """One `traffpunkt serve` process on a fixed port (it comes back on the same one)."""

    name: str
    port: int
    env: dict[str, str]
    args: list[str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port), *self.args],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        wait_port(self.port, self.proc, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} is not ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Redis:
    def __init__(self, port: int, log_dir: Path) -> None:
        self.port, self.log_dir = port, log_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=(self.log_dir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, 10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def restart_postgres() -> str:
    """Restart the machine's PostgreSQL cluster (fast shutdown: open connections are cut)."""
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
        return "skipped: needs root and pg_ctlcluster"
    version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(x) for x in v.split(".")])
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version[-1], "main", "restart",
                    "-m", "fast"], check=True, capture_output=True)
    return "restarted"


# --------------------------------------------------------------------------- the clients


@dataclass
class Tally:
    """What one client process saw: acknowledged writes, refused ones, connection drops."""

    acks: list[tuple[str, str, float]] = field(default_factory=list)  # (kind, key, at)
    refused: list[tuple[str, str, float]] = field(default_factory=list)  # (kind, code, at)
    drops: list[tuple[float, float | None]] = field(default_factory=list)  # (lost, back)


def client_main(conn: Connection, url: str, clients: list[dict[str, Any]], source: str,
                poll_id: int, stop_at: float) -> None:
    tally = asyncio.run(_clients(url, clients, source, poll_id, stop_at, conn))
    conn.send(("done", tally.__dict__))


async def _clients(url: str, clients: list[dict[str, Any]], source: str, poll_id: int,
                   stop_at: float, conn: Connection) -> Tally:
    import aiohttp

    tally = Tally()
    questions: list[int] = []
    connector = aiohttp.TCPConnector(limit=0, local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        ready = asyncio.Event()
        count = [0]

        def connected() -> None:
            count[0] += 1
            if count[0] == len(clients):
                ready.set()

        tasks = [asyncio.create_task(_client(http, url, c, n, tally, questions, poll_id,
                                             stop_at, connected))
                 for n, c in enumerate(clients)]
        await asyncio.wait_for(ready.wait(), 120)
        conn.send(("ready", len(clients)))
        await asyncio.gather(*tasks, return_exceptions=True)
    return tally


async def _client(http: Any, url: str, me: dict[str, Any], n: int, tally: Tally,
                  questions: list[int], poll_id: int, stop_at: float, connected: Any) -> None:
    """One client for the whole rehearsal: connect, act, and reconnect when dropped."""
    rng = random.Random(f"{me['name']}")
    await asyncio.sleep(rng.random() * 10)  # people arrive over ten seconds
    if me["kind"] == "facilitator":
        await _facilitator(http, url, me, rng, tally, stop_at, connected)
        return
    if me["kind"] == "registrant":
        connected()  # not there yet: they arrive during the day
        await _registrant(http, url, me, rng, tally, stop_at)
        return
    from bench.rawsio import RawSocket

    notes = _Notes(me) if me["kind"] == "editor" else None
    moderator = _Moderator() if me["kind"] == "moderator" else None
    handler = notes.on_event if notes else moderator.on_event if moderator else _ignore
    first, lost = True, None
    sequence, attempts = 0, 0
    while time.time() < stop_at:
        if lost is not None:  # socket.io-client's reconnection, as the pages have it
            await asyncio.sleep(backoff(attempts, rng))
            attempts += 1
        sock = RawSocket(http, url, handler)
        try:
            ok = await asyncio.wait_for(sock.connect({"token": me["token"]}), CONNECT_TIMEOUT)
        except Exception:  # refused, reset, timed out: the page tries again
            ok = False
        if ok and (notes is not None or moderator is not None):
            # Connected; the page's own start (joining the notes, the moderator's list) is
            # tried again on the same connection while it is refused (a dependency away).
            if notes is not None:
                notes.sock = sock
            for attempt in range(30):
                try:
                    await (notes.join() if notes is not None
                           else moderator.snapshot(sock))  # type: ignore[union-attr]
                    break
                except Exception:
                    if sock._task is None or sock._task.done():
                        ok = False
                        break
                    await asyncio.sleep(backoff(attempt, rng))
        if not ok:
            await sock.close()
            lost = lost or time.time()
            continue
        if lost is not None:
            tally.drops.append((lost, time.time()))
            lost, attempts = None, 0
        if first:
            first = False
            connected()
        closed = sock._task
        assert closed is not None
        closed_at: list[float] = []
        closed.add_done_callback(lambda _t, at=closed_at: at.append(time.time()))
        while time.time() < stop_at and not closed.done():
            # Idle until the next write, but notice a closed connection at once (the page's
            # socket.io does), so the drop is timed when it happened.
            await asyncio.wait({closed}, timeout=rng.expovariate(1 / _period(me["kind"])))
            if closed.done() or time.time() >= stop_at:
                break
            sequence += 1
            try:
                if moderator is not None:
                    await moderator.approve(sock, tally)
                    continue
                await _act(sock, me, rng, n, sequence, tally, questions, poll_id, notes)
            except (TimeoutError, ConnectionError, RuntimeError, AssertionError):
                pass  # not acknowledged: not counted as saved
        if time.time() < stop_at:
            lost = closed_at[0] if closed_at else time.time()
        await sock.close()
    if lost is not None:
        tally.drops.append((lost, None))


CONNECT_TIMEOUT = 20.0  # socket.io-client's `timeout` (static/js/protocol.js keeps the default)


def backoff(attempt: int, rng: random.Random) -> float:
    """socket.io-client's reconnection delay: 1 s doubling to 5 s, each ±50 %."""
    base = min(5.0, 1.0 * 2 ** attempt)
    return min(5.0, base * (1 + (rng.random() * 2 - 1) * 0.5))


async def _ignore(name: str, data: Any) -> None:
    return None


def _period(kind: str) -> float:
    """Mean seconds between a client's writes."""
    return {"participant": 12.0, "editor": 1.0, "captioner": 1.5, "moderator": 1.0}.get(kind, 5.0)


async def _act(sock: Any, me: dict[str, Any], rng: random.Random, n: int, seq: int,
               tally: Tally, questions: list[int], poll_id: int, notes: _Notes | None) -> None:
    now = time.time
    if me["kind"] == "captioner":
        text = f"Textrad {seq} från skrivtolken"
        await _call(sock, "captions.send", {"text": text}, "caption", text, tally)
        return
    if notes is not None:
        await notes.type(seq, tally)
        return
    choice = rng.random()
    if choice < 0.2:
        text = f"Fråga {me['name']} nr {seq}: hur följer ni upp planen?"
        ack = await _call(sock, "qa.ask", {"text": text}, "question", text, tally)
        if ack and ack.get("question"):
            questions.append(int(ack["question"]["id"]))
    elif choice < 0.5 and questions:
        qid = rng.choice(questions[-50:])
        await _call(sock, "qa.vote", {"question_id": qid}, "vote", f"{me['name']}|{qid}", tally)
    elif choice < 0.6:
        option = n % 3
        await _call(sock, "polls.vote", {"poll_id": poll_id, "option": option}, "poll",
                    f"{me['name']}|{option}", tally)
    else:
        text = f"{me['name']} säger {seq}"
        await _call(sock, "chat.send", {"room_id": me["room"], "text": text}, "chat", text, tally)
    del now


async def _call(sock: Any, event: str, data: Any, kind: str, key: str, tally: Tally
                ) -> dict[str, Any] | None:
    ack = await sock.call(event, data, timeout=5)
    if isinstance(ack, dict) and ack.get("ok"):
        tally.acks.append((kind, key, time.time()))
        return ack
    code = (ack or {}).get("error", {}).get("code", "?") if isinstance(ack, dict) else "?"
    tally.refused.append((kind, code, time.time()))
    return None


class _Moderator:
    """KB's moderator: approves the questions waiting (the demo event premoderates)."""

    def __init__(self) -> None:
        self.pending: list[int] = []

    async def on_event(self, name: str, data: Any) -> None:
        if name == "qa.question" and data["question"].get("state") == "pending":
            self.pending.append(int(data["question"]["id"]))

    async def snapshot(self, sock: Any) -> None:
        ack = await sock.call("qa.snapshot", {}, timeout=10)
        self.pending += [int(q["id"]) for q in ack.get("questions", [])
                         if q.get("state") == "pending"]

    async def approve(self, sock: Any, tally: Tally) -> None:
        while self.pending:
            qid = self.pending.pop(0)
            await _call(sock, "qa.approve", {"question_id": qid}, "approve", str(qid), tally)


class _Notes:
    """An editor's document: it keeps its text across reconnections and syncs it again."""

    def __init__(self, me: dict[str, Any]) -> None:
        from rooms.notes_client import NotesClient

        self.me, self.client, self.sock = me, NotesClient(), None

    async def on_event(self, name: str, data: Any) -> None:
        if name != "notes.sync" or self.sock is None:
            return
        wires = data["data"] if isinstance(data["data"], list) else [data["data"]]
        for wire in wires:
            for reply in self.client.receive(base64.b64decode(wire)):
                await self.sock.emit("notes.sync", {"room_id": self.me["room"],
                                                    "data": base64.b64encode(reply).decode()})

    async def join(self) -> None:
        ack = await self.sock.call("notes.join", {"room_id": self.me["room"]}, timeout=10)
        if not ack.get("ok"):
            raise RuntimeError(f"notes.join: {ack}")
        await self.sock.emit("notes.sync", {"room_id": self.me["room"],
                                            "data": base64.b64encode(self.client.hello()).decode()})

    async def type(self, seq: int, tally: Tally) -> None:
        theme = THEMES[seq % len(THEMES)]
        word = f" [{self.me['name']}#{seq}]"
        section = self.client.section(theme)
        section += word
        for message in self.client.take_outbox():
            await _call(self.sock, "notes.sync", {"room_id": self.me["room"],
                                                  "data": base64.b64encode(message).decode()},
                        "notes", f"{self.me['room']}|{word.strip()}", tally)


async def _registrant(http: Any, url: str, me: dict[str, Any], rng: random.Random,
                      tally: Tally, stop_at: float) -> None:
    """Someone who registers during the day, through the form, and sends it again (the page
    keeps what they typed) until it is taken."""
    import re

    import aiohttp

    await asyncio.sleep(rng.random() * max(0.0, stop_at - time.time() - 20))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     connector=http.connector, connector_owner=False) as own:
        attempt = 0
        while time.time() < stop_at:
            try:
                async with own.get(f"{url}/e/{SLUG}/register") as r:
                    found = re.search(r'name="csrf-token" content="([^"]+)"', await r.text())
                if found is None:
                    raise RuntimeError(f"register page {r.status}")
                form = {"csrf_token": found.group(1), "name": me["name"],
                        "organisation": f"Bibliotek {me['region']}",
                        "municipality": f"Kommun {me['region']}", "region": me["region"],
                        "job_role": "bibliotekarie", "attendance": "online"}
                async with own.post(f"{url}/e/{SLUG}/register", data=form,
                                    allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(10)) as r:
                    status = r.status
                if status == 302:
                    tally.acks.append(("registration", me["name"], time.time()))
                    return
                tally.refused.append(("registration", str(status), time.time()))
            except Exception:
                tally.refused.append(("registration", "unreachable", time.time()))
            await asyncio.sleep(backoff(attempt, rng))
            attempt += 1


async def _facilitator(http: Any, url: str, me: dict[str, Any], rng: random.Random,
                       tally: Tally, stop_at: float, connected: Any) -> None:
    """The region's facilitator: signed in by their link, autosaving the feedback form."""
    import re

    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=http.connector,
                                     connector_owner=False) as own:
        csrf, version, first, seq = "", 0, True, 0
        while time.time() < stop_at:
            try:
                if not csrf:
                    async with own.get(f"{url}/e/{SLUG}/join/{me['key']}") as r:
                        page = await r.text()
                    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
                    if not found:
                        raise RuntimeError("no csrf token")
                    csrf = found.group(1)
                    if first:
                        first = False
                        connected()
                seq += 1
                text = f"Regionen {me['region']} svarar, version {seq}."
                async with own.post(
                        f"{url}/e/{SLUG}/feedback/regions/{me['region']}/draft",
                        json={"answers": {"uppfoljning": text}, "version": version},
                        headers={"X-CSRF-Token": csrf}, timeout=aiohttp.ClientTimeout(10)) as r:
                    body = await r.json(content_type=None)
                if r.status == 200:
                    version = int(body.get("version", version))
                    tally.acks.append(("feedback", f"{me['region']}|{text}", time.time()))
                else:
                    code = (body.get("error") or {}).get("code", str(r.status))
                    tally.refused.append(("feedback", code, time.time()))
                    if code == "feedback.conflict":
                        async with own.get(f"{url}/e/{SLUG}/feedback/regions/{me['region']}"
                                           "/response") as r2:
                            version = int((await r2.json()).get("version", 0))
            except Exception:
                if not first:
                    tally.refused.append(("feedback", "unreachable", time.time()))
            await asyncio.sleep(rng.expovariate(1 / 4.0))


# --------------------------------------------------------------------------- checking


async def stored(url: str, event_id: int) -> dict[str, set[str]]:
    """What the database and the exports (what the archival package is made of) hold."""
    from sqlalchemy import select

    from server.captions import service as captions
    from server.chat.models import ChatMessage
    from server.feedback import report as feedback
    from server.notes import service as notes
    from server.platform.db import Database
    from server.platform.models import Registration
    from server.polls import service as polls
    from server.polls.models import PollVote
    from server.qa import service as qa
    from server.qa.models import QuestionVote

    db = Database(url)
    try:
        async with db.session() as s:
            names = {r.id: r.name for r in await s.scalars(select(Registration))}
            votes = {f"{names[v.registration_id]}|{v.question_id}"
                     for v in await s.scalars(select(QuestionVote))}
            polled = {f"{names[v.registration_id]}|{v.option}"
                      for v in await s.scalars(select(PollVote))}
            chat = {m.text for m in await s.scalars(select(ChatMessage))}
            exports = {"qa": await qa.export_rows(s, event_id),
                       "captions": await captions.export_rows(s, event_id),
                       "notes": await notes.export_parts(s, event_id),
                       "feedback": await feedback.export_rows(s, event_id),
                       "polls": await polls.export_rows(s, event_id)}
    finally:
        await db.close()
    return {**kinds_of(exports), "vote": votes, "poll": polled, "chat": chat,
            "registration": set(names.values())}


def kinds_of(exports: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """The acknowledged kinds of write an export holds (the same rows in the database's exports
    and in the archival package's record/*.json)."""
    notes_text: dict[str, str] = defaultdict(str)
    for part in exports["notes"]:
        notes_text[str(part["room_id"])] += part["text"] or ""
    qa_rows = exports["qa"]
    return {
        "question": {str(r["text"]) for r in qa_rows},
        "approve": {str(r["id"]) for r in qa_rows if r["state"] in ("approved", "answered")},
        "caption": {str(r.get("text", "")) for r in exports["captions"]},
        "notes": {f"{room}|{word}" for room, text in notes_text.items()
                  for word in _words(text)},
        "feedback": {f"{r['region_code']}|{r['answer']}" for r in exports["feedback"]
                     if r.get("source") == "region"},
        "_poll_total": {str(sum(int(r.get("votes", 0)) for r in exports["polls"]))},
    }


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"\[[^\]]+\]", text))


def latest_per_key(acks: list[tuple[str, str, float]]) -> dict[str, set[str]]:
    """Acknowledged writes by kind; a poll answer and feedback keep only the last (a later
    answer replaces the earlier one, as it should)."""
    out: dict[str, set[str]] = defaultdict(set)
    last: dict[tuple[str, str], tuple[float, str]] = {}
    for kind, key, at in acks:
        if kind in ("poll", "feedback"):
            who = key.split("|", 1)[0]
            if (kind, who) not in last or last[(kind, who)][0] < at:
                last[(kind, who)] = (at, key)
        else:
            out[kind].add(key)
    for (kind, _), (_, key) in last.items():
        out[kind].add(key)
    return out


def first_losses(acks: list[tuple[str, str, float]], lost: dict[str, list[str]],
                 start: float) -> list[tuple[str, float]]:
    missing = {(kind, key) for kind, keys in lost.items() for key in keys}
    first: dict[str, tuple[str, float]] = {}
    for kind, key, at in sorted(acks, key=lambda a: a[2]):
        writer = key.split("#")[0]
        if (kind, key) in missing and writer not in first:
            first[writer] = (key, round(at - start, 1))
    return sorted(first.values(), key=lambda f: f[1])[:12]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.nginx import Nginx

    tmp = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    media_root = tmp / "media"
    media_root.mkdir()
    print(f"rehearsal: preparing {args.participants} participants in {tmp}", file=sys.stderr)
    data = await prepare(DATABASE, args.participants)
    redis = Redis(free_port(), tmp)
    redis.start()
    env = {**os.environ, "TRAFFPUNKT_ENV": "test", "DATABASE_URL": DATABASE,
           "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "SECRET_KEY": SECRET,
           "MEDIA_ROOT": str(media_root), "METRICS_TOKEN": METRICS_TOKEN, "LOG_FORMAT": "json",
           "SOCKET_PER_ADDRESS": "100000", "REGISTER_PER_ADDRESS": "100000",
           "SHUTDOWN_GRACE_SECONDS": "1", "MEDIA_PROCESSES": "1"}
    nginx_port = free_port()
    env["PUBLIC_URL"] = f"http://127.0.0.1:{nginx_port}"
    webs = [Node(f"web{i}", free_port(), {**env, "NODE_ID": f"web{i}"}, ["--no-media"], tmp)
            for i in (1, 2)]
    media = Node("media", free_port(), {**env, "NODE_ID": "media"}, ["--media-only"], tmp)
    nodes = [*webs, media]
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()
    proxy = Nginx(nginx_port, web=";\n        server ".join(f"127.0.0.1:{w.port}" for w in webs),
                  media=f"127.0.0.1:{media.port}", media_root=media_root, run_dir=tmp / "nginx")
    proxy.start()
    url = proxy.url
    everyone = [*data["people"], *data["editors"], *data["facilitators"], data["captioner"],
                data["moderator"], *data["registrants"]]
    phase = args.seconds_per_phase
    faults = ["web_node_killed", "redis_stopped_5s", "media_node_killed", "postgres_restarted"]
    start_at = time.time()
    stop_at = start_at + 40 + phase * (len(faults) + 1) + 15
    # The stage first: the encoder publishes (the recording starts by itself), then the
    # HLS players and WHEP viewers, from an address of their own.
    stage_pipe, theirs = mp.Pipe()
    stage = mp.Process(target=media_main, daemon=True,
                       args=(theirs, url, SLUG, data["media"], "127.0.14.1", stop_at))
    stage.start()
    loop = asyncio.get_running_loop()
    kind, _ = await loop.run_in_executor(None, stage_pipe.recv)
    assert kind == "ready", kind
    print("rehearsal: the stage is live through nginx", file=sys.stderr)
    pipes, workers = [], []
    for w in range(WORKERS):
        mine, theirs = mp.Pipe()
        p = mp.Process(target=client_main, daemon=True,
                       args=(theirs, url, everyone[w::WORKERS], f"127.0.{10 + w}.1",
                             data["poll_id"], stop_at))
        p.start()
        pipes.append(mine)
        workers.append(p)
    for pipe in pipes:
        kind, _ = await loop.run_in_executor(None, pipe.recv)
        assert kind == "ready", kind
    print(f"rehearsal: {len(everyone)} clients connected through nginx", file=sys.stderr)
    spread = web_spread(webs)
    windows: dict[str, tuple[float, float]] = {}
    notes_on_faults: dict[str, str] = {}
    await asyncio.sleep(phase)  # the day runs before anything breaks
    for fault in faults:
        began = time.time()
        print(f"rehearsal: {fault}", file=sys.stderr)
        if fault == "web_node_killed":
            webs[0].kill()
            await asyncio.sleep(2)
            webs[0].start()
            await loop.run_in_executor(None, webs[0].wait_ready)
        elif fault == "redis_stopped_5s":
            redis.stop()
            await asyncio.sleep(5)
            redis.start()
        elif fault == "media_node_killed":
            media.kill()
            await asyncio.sleep(2)
            media.start()
            await loop.run_in_executor(None, media.wait_ready)
        elif fault == "postgres_restarted":
            notes_on_faults[fault] = await loop.run_in_executor(None, restart_postgres)
        restored = time.time()
        windows[fault] = (began, restored)
        await asyncio.sleep(phase)
    print("rehearsal: the day ends; waiting for the clients", file=sys.stderr)
    tallies = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
    for p in workers:
        p.join(10)
    _, stage_tally = await loop.run_in_executor(None, stage_pipe.recv)
    stage.join(10)
    metrics_text = scrape(webs[1])
    await asyncio.sleep(3)  # notes written behind reach the database
    # After the day: the moderator closes the round and stops the recording, the archivist
    # publishes it.
    stopped = await close_the_day(url, data["moderator"]["token"])
    parts = await recordings(DATABASE, data["event_id"])
    last = next((p for p in reversed(parts) if p["status"] == "stopped"), None)
    published: dict[str, Any] = {"published": False, "error": "no stopped recording"}
    if last is not None:
        published = await publish(url, last["id"], "rehearsal-password-1", tmp / "package")
    for node in nodes:
        node.stop()
    proxy.stop()
    redis.stop()
    have = await stored(DATABASE, data["event_id"])
    merged = Tally()
    for _, t in tallies:
        merged.acks += [tuple(a) for a in t["acks"]]  # type: ignore[misc]
        merged.refused += [tuple(r) for r in t["refused"]]  # type: ignore[misc]
        merged.drops += [tuple(d) for d in t["drops"]]  # type: ignore[misc]
    acked = latest_per_key(merged.acks)
    lost = {kind: sorted(keys - have.get(kind, set())) for kind, keys in acked.items()}
    in_bag = kinds_of(package_rows(Path(published["bag"]))) if published.get("bag") else {}
    lost_from_package = {kind: len(acked.get(kind, set()) - keys)
                         for kind, keys in in_bag.items() if not kind.startswith("_")}
    report = figures(merged, windows, lost, acked, notes_on_faults, start_at)
    media_tally = MediaTally(**stage_tally)
    stage_figures(report, media_tally, windows, start_at)
    killed = windows.get("media_node_killed", (None, None))[0]
    report["recording"] = {
        "stopped": stopped,
        **recording_parts(parts, media_root, {f: w[0] for f, w in windows.items()}, killed)}
    report["publication"] = {k: v for k, v in published.items() if k != "bag"}
    report["publication"]["lost_from_package"] = lost_from_package
    report["hls"] = {"segments_played": media_tally.hls_segments,
                     "discontinuities_seen": media_tally.hls_discontinuities,
                     "violations": media_tally.hls_violations[:10],
                     "errors": media_tally.hls_errors, "whep_frames": media_tally.whep_frames,
                     "whep_refused": media_tally.whep_refused}
    report["stage_clients_cpu"] = f"{media_tally.cores} cores (one process, one core at most)"
    from tests.dashboard import missing

    report.update({
        "bench": "rehearsal", "participants": args.participants,
        "clients": len(everyone), "web_spread": spread,
        "writes": {k: len(v) for k, v in acked.items()},
        "lost": {k: len(v) for k, v in lost.items()},
        "lost_examples": {k: v[:3] for k, v in lost.items() if v},
        # Where each lost sequence began (a lost notes update hides the same writer's later
        # ones until the gap is filled): (key, seconds into the run).
        "lost_first": first_losses(merged.acks, lost, start_at),
        "refused": dict(Counter(f"{k}:{c}" for k, c, _ in merged.refused).most_common(12)),
        "dashboard_series_without_samples": missing(metrics_text, with_samples=True),
        "logs": str(tmp),
    })
    stage_ok = (not media_tally.hls_violations
                and report["recording"]["parts_losing_more"] == 0
                and published.get("bagit_valid") is True
                and not any(lost_from_package.values()))
    report["met"] = stage_ok and (sum(report["lost"].values()) == 0 and all(
        back is None or back <= GOAL_BACK_S
        for f in report["faults"].values()
        for back in (f["back_s"]["p99"], f["stage"]["hls"]["back_p99"],
                     f["stage"]["whep"]["back_p99"])))
    return report


async def close_the_day(url: str, token: str) -> dict[str, str]:
    """The moderator closes the breakout round and stops the recording (socket events),
    through nginx."""
    import aiohttp

    from bench.rawsio import RawSocket

    said: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        sock = RawSocket(http, url, _ignore)
        try:
            await sock.connect({"token": token})
            for event in ("breakout.close", "recording.stop"):
                ack: Any = await sock.call(event, {}, timeout=20)
                said[event] = ("ok" if isinstance(ack, dict) and ack.get("ok")
                               else json.dumps(ack)[:200])
        finally:
            await sock.close()
    return said


async def recordings(url: str, event_id: int) -> list[dict[str, Any]]:
    """The event's recording parts, oldest first."""
    from sqlalchemy import select

    from server.platform.db import Database
    from server.recording.models import Recording

    db = Database(url)
    try:
        async with db.session() as s:
            rows = await s.scalars(select(Recording).where(Recording.event_id == event_id)
                                   .order_by(Recording.id))
            return [{"id": r.id, "status": r.status, "file_path": r.file_path,
                     "started_at": r.started_at.replace(tzinfo=r.started_at.tzinfo or UTC)
                     .timestamp()} for r in rows]
    finally:
        await db.close()


def stage_figures(report: dict[str, Any], tally: MediaTally,
                  windows: dict[str, tuple[float, float]], start: float) -> None:
    """Per fault: how many HLS players and WHEP viewers lost the picture, and how soon after
    the fault began each had it again (the end of its first stall of PICTURE_LOST_S or more that
    began between the fault and STAGE_SETTLE_S after it was over), how many seconds in all it went
    without, and the shorter stutters; when the
    encoder noticed and was taken again. Stalls beginning anywhere else are counted apart: no
    fault explains them."""
    explained: set[tuple[str, int, int]] = set()
    for fault, (began, restored) in windows.items():
        stage: dict[str, Any] = {}
        for kind, per_client in (("hls", tally.hls_stalls), ("whep", tally.whep_stalls)):
            backs, without, stutters = [], [], 0
            for c, stalls in enumerate(per_client):
                # A stall under way when the fault began (the buffer ran dry a moment
                # before) or beginning until it has settled.
                mine = [(n, max(at, began), end if end is not None else float("inf"))
                        for n, (at, end) in enumerate(stalls)
                        if began - 2 <= at < restored + STAGE_SETTLE_S
                        and (end is None or end > began)]
                explained.update((kind, c, n) for n, _, _ in mine)
                lost = [(at, end) for _, at, end in mine if end - at >= PICTURE_LOST_S]
                stutters += len(mine) - len(lost)
                if lost:
                    backs.append(lost[0][1] - began)  # the picture came back
                    without.append(sum(end - at for _, at, end in mine))
            stage[kind] = {"stalled": len(backs), "of": len(per_client),
                           "back_p50": percentile(backs, 0.5), "back_p99": percentile(backs, 0.99),
                           # seconds without a picture in all, stutters included (a player at
                           # the live edge after a comeback stalls again when a segment is late)
                           "without_picture_s_p99": percentile(without, 0.99),
                           "stutters": stutters}
        lost = [t for t in tally.publisher_lost if began - 1 <= t < restored + STAGE_SETTLE_S]
        again = [t for t in tally.publishes if lost and t > lost[0]]
        stage["encoder"] = {"noticed_after_s": round(lost[0] - began, 1) if lost else None,
                            "published_again_after_s": round(again[0] - began, 1)
                            if again else None}
        report["faults"][fault]["stage"] = stage
    elsewhere = [(kind, round(at - start, 1), round((end or at) - at, 1))
                 for kind, per_client in (("hls", tally.hls_stalls), ("whep", tally.whep_stalls))
                 for c, stalls in enumerate(per_client) for n, (at, end) in enumerate(stalls)
                 if (kind, c, n) not in explained]
    report["stage_stalls_outside_faults"] = {
        "count": len(elsewhere), "longest_s": max((d for _, _, d in elsewhere), default=None),
        "examples": sorted(elsewhere, key=lambda s: -s[2])[:6]}


def web_spread(webs: list[Node]) -> dict[str, float]:
    """How many clients each web node holds (from its own /metrics)."""
    out = {}
    for web in webs:
        text = scrape(web)
        out[web.name] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                            if line.startswith("traffpunkt_socket_clients{"))
    return out


def scrape(node: Node) -> str:
    request = urllib.request.Request(f"{node.url}/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return r.read().decode()


def figures(tally: Tally, windows: dict[str, tuple[float, float]], lost: dict[str, list[str]],
            acked: dict[str, set[str]], notes: dict[str, str], start: float) -> dict[str, Any]:
    faults: dict[str, Any] = {}
    names = list(windows)
    for n, (fault, (began, restored)) in enumerate(windows.items()):
        until = windows[names[n + 1]][0] if n + 1 < len(names) else float("inf")
        drops = [(a, b) for a, b in tally.drops if began - 1 <= a < until]
        back = [(b if b is not None else until) - began for a, b in drops]
        acks = [a for a in tally.acks if began <= a[2] < until]
        refused = [r for r in tally.refused if began <= r[2] < until]
        lost_here = sum(1 for kind, key, at in acks if key in set(lost.get(kind, [])))
        # Until when writes were refused (a dependency away): the connection stayed, the
        # people were told to try again.
        refused_until = max((at for _, code, at in refused if code in OUTAGE), default=None)
        faults[fault] = {
            "at_s": round(began - start, 1), "restored_after_s": round(restored - began, 1),
            "clients_dropped": len(drops),
            "back_s": {"p50": percentile(back, 0.5), "p99": percentile(back, 0.99),
                       "max": round(max(back), 2) if back else None},
            "writes_acknowledged": len(acks), "writes_refused": len(refused),
            "writes_lost": lost_here,
            "writes_refused_until_s": round(refused_until - began, 1) if refused_until else None,
            **({"note": notes[fault]} if fault in notes else {}),
        }
    return {"faults": faults, "goal_back_s": GOAL_BACK_S}


def print_table(report: dict[str, Any]) -> None:
    print(f"\nRehearsal: {report['clients']} clients through nginx, two web nodes "
          f"({report['web_spread']}), a media node, Redis, PostgreSQL")
    print(f"{'fault':22} {'at s':>6} {'dropped':>8} {'back p50':>9} {'p99':>6} {'max':>6} "
          f"{'acked':>6} {'refused':>8} {'until s':>8} {'lost':>5}")
    for name, f in report["faults"].items():
        b = f["back_s"]
        print(f"{name:22} {f['at_s']:>6} {f['clients_dropped']:>8} {str(b['p50']):>9} "
              f"{str(b['p99']):>6} {str(b['max']):>6} {f['writes_acknowledged']:>6} "
              f"{f['writes_refused']:>8} {str(f['writes_refused_until_s']):>8} "
              f"{f['writes_lost']:>5}  {f.get('note', '')}")
    print(f"\nthe stage: {'fault':22} {'HLS stalled':>12} {'back p50':>9} {'p99':>6} "
          f"{'WHEP stalled':>13} {'back p50':>9} {'p99':>6} {'encoder noticed':>16} "
          f"{'published again':>16}")
    for name, f in report["faults"].items():
        h, w, e = f["stage"]["hls"], f["stage"]["whep"], f["stage"]["encoder"]
        print(f"{'':11}{name:22} {h['stalled']:>5} of {h['of']:<4} {str(h['back_p50']):>9} "
              f"{str(h['back_p99']):>6} {w['stalled']:>6} of {w['of']:<4} "
              f"{str(w['back_p50']):>9} {str(w['back_p99']):>6} "
              f"{str(e['noticed_after_s']):>16} {str(e['published_again_after_s']):>16}")
    print(f"stalls no fault explains: {report['stage_stalls_outside_faults']}")
    print(f"HLS: {report['hls']}; stage client process: {report['stage_clients_cpu']}")
    rec = report["recording"]
    print(f"recording (fragment {rec['fragment_s']} s): {rec['stopped']}; parts: {rec['parts']}")
    print(f"publication: {report['publication']}")
    print(f"writes acknowledged: {report['writes']}")
    print(f"lost (acknowledged, not stored): {report['lost']}; first: {report['lost_first']}")
    print(f"refused (the client was told): {report['refused']}")
    print(f"dashboard series with no sample: {report['dashboard_series_without_samples']}")
    print(f"goals: nothing lost, every client back within {GOAL_BACK_S:.0f} s (p99): "
          f"{'met' if report['met'] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=400)
    parser.add_argument("--seconds-per-phase", type=float, default=20.0)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print_table(report)
    print(json.dumps(report, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
