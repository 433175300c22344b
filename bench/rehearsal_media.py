"""The stage's side of the dress rehearsal (bench/rehearsal.py): an encoder publishing over
WHIP, HLS players and WHEP viewers, all through nginx, in a process of their own; and the checks
of the recording and its publication afterwards.

The encoder is a synthetic WebRTC publisher that behaves like OBS with "reconnect
automatically": when the media node's receiver reports stop for 3 s it publishes again, every
second until it is taken. An HLS player signs in by its join link (nginx asks the app whether
the cookie may read the stage) and reloads the playlist the way hls.js does (every target
duration, half of it when nothing changed), fetches each new segment and plays it at 1x from
two target durations behind the live edge: its stalls are the seconds it had nothing to show.
It checks the playlist as RFC 8216 requires of a live one: the media and discontinuity
sequences never decrease, a sequence number always names the same file, a name never comes
back for another segment. A WHEP viewer decodes the picture; when no frame has come for 3 s it
offers again every second (as the page falls back and retries), and its stalls are timed the
same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SDP = "application/sdp"
DEAD_AFTER_S = 3.0  # no receiver report (encoder) or no frame (viewer) for this long: dead
WEBRTC_RETRY_S = 30.0  # on HLS after a 503, WebRTC is tried again this much later (the page's)
STALL_MIN_S = 0.25  # shorter gaps in playback are not stalls anyone would see
FRAGMENT_S = 1.0  # the recorder's fragment (streaming.config record_fragment_seconds)


@dataclass
class MediaTally:
    """What the stage's clients saw. Each stall is (began, ended or None)."""

    publishes: list[float] = field(default_factory=list)  # WHIP sessions taken
    publisher_lost: list[float] = field(default_factory=list)  # when it noticed
    whep_stalls: list[list[tuple[float, float | None]]] = field(default_factory=list)
    whep_refused: int = 0  # offers answered 503 (over the cap: to HLS)
    whep_frames: int = 0
    hls_stalls: list[list[tuple[float, float | None]]] = field(default_factory=list)
    hls_segments: int = 0
    hls_violations: list[str] = field(default_factory=list)
    hls_discontinuities: int = 0  # comebacks seen (a new discontinuity sequence or tag)
    hls_errors: dict[str, int] = field(default_factory=dict)
    cores: float = 0.0  # this process's CPU over the run, in cores: is the client the limit?


def media_main(conn: Connection, url: str, slug: str, media: dict[str, Any], source: str,
               stop_at: float) -> None:
    tally = asyncio.run(_media(url, slug, media, source, stop_at, conn))
    conn.send(("done", tally.__dict__))


async def _media(url: str, slug: str, media: dict[str, Any], source: str, stop_at: float,
                 conn: Connection) -> MediaTally:
    import aiohttp

    tally = MediaTally()
    began, cpu = time.monotonic(), time.process_time()
    connector = aiohttp.TCPConnector(limit=0, local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        live = asyncio.Event()
        publisher = asyncio.create_task(
            _publisher(http, f"{url}/whip/{slug}", media["stage_token"], stop_at, tally, live))
        await asyncio.wait_for(live.wait(), 60)
        conn.send(("ready", 1))
        viewers = [asyncio.create_task(_whep_viewer(http, url, slug, me, media["hls_path"],
                                                    stop_at, tally, n))
                   for n, me in enumerate(media["whep"])]
        players = [asyncio.create_task(_hls_player(http, url, slug, key, media["hls_path"],
                                                   stop_at, tally, n))
                   for n, key in enumerate(media["hls_keys"])]
        await asyncio.gather(*viewers, *players, return_exceptions=True)
        await publisher  # it stops publishing last: the day's end
    tally.cores = round((time.process_time() - cpu) / (time.monotonic() - began), 2)
    return tally


# --------------------------------------------------------------------------- the encoder


async def _publisher(http: Any, whip: str, token: str, stop_at: float, tally: MediaTally,
                     live: asyncio.Event) -> None:
    from streaming.peers import SyntheticPublisher

    headers = {"Authorization": f"Bearer {token}", "Content-Type": SDP}
    while time.time() < stop_at + 2:
        publisher = SyntheticPublisher(320, 240, 30)
        location: str | None = None

        async def exchange(offer: str) -> str:
            nonlocal location
            async with http.post(whip, data=offer, headers=headers) as r:
                if r.status != 201:
                    raise ConnectionError(f"WHIP {r.status}")
                location = r.headers.get("Location")
                return str(await r.text())

        try:
            await asyncio.wait_for(publisher.connect(exchange), 10)
        except Exception:
            await publisher.close()
            await asyncio.sleep(1.0)
            continue
        tally.publishes.append(time.time())
        live.set()
        taken = time.time()
        while time.time() < stop_at + 2:
            await asyncio.sleep(0.5)
            heard = await _last_report(publisher)
            if time.time() - max(heard or 0.0, taken + 5) > DEAD_AFTER_S:
                tally.publisher_lost.append(time.time())
                break
        else:  # the day is over: hang up properly
            if location:
                try:
                    async with http.delete(_absolute(whip, location), headers=headers):
                        pass
                except Exception:
                    pass
        await publisher.close()


async def _last_report(publisher: Any) -> float | None:
    """When the media node last sent a receiver report for our video (RTCP), or None."""
    sender = next(s for s in publisher.pc.getSenders() if s.track is publisher.video)
    reports = [s for s in (await sender.getStats()).values() if s.type == "remote-inbound-rtp"]
    return max((s.timestamp.timestamp() for s in reports), default=None)


def _absolute(base: str, location: str) -> str:
    if location.startswith("http"):
        return location
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}{location}"


# --------------------------------------------------------------------------- viewers


@dataclass
class Playlist:
    target: float
    sequence: int
    discontinuity_sequence: int
    segments: list[tuple[int, float, str, bool]]  # (sequence, duration, uri, discontinuity)
    ended: bool


def parse_playlist(text: str) -> Playlist:
    target, sequence, discontinuities, ended = 2.0, 0, 0, False
    segments: list[tuple[int, float, str, bool]] = []
    pending, jump = 0.0, False
    media_sequence = None
    for line in text.splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            discontinuities = int(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            jump = True
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",")[0])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            segments.append((sequence, pending, line, jump))
            sequence, jump = sequence + 1, False
    return Playlist(target, media_sequence or 0, discontinuities, segments, ended)


class PlaylistWatch:
    """What a player may rely on across reloads (RFC 8216 6.2.1 and 6.2.2)."""

    def __init__(self) -> None:
        self.sequence = -1
        self.discontinuity_sequence = -1
        self.names: dict[int, str] = {}
        self.sequences: dict[str, int] = {}
        self.violations: list[str] = []

    def check(self, p: Playlist) -> None:
        if p.sequence < self.sequence:
            self.violations.append(f"media sequence {self.sequence} -> {p.sequence}")
        if p.discontinuity_sequence < self.discontinuity_sequence:
            self.violations.append(
                f"discontinuity sequence {self.discontinuity_sequence} -> "
                f"{p.discontinuity_sequence}")
        self.sequence = max(self.sequence, p.sequence)
        self.discontinuity_sequence = max(self.discontinuity_sequence, p.discontinuity_sequence)
        for sequence, _, uri, _ in p.segments:
            if self.names.setdefault(sequence, uri) != uri:
                self.violations.append(f"sequence {sequence} is {self.names[sequence]} and {uri}")
            if self.sequences.setdefault(uri, sequence) != sequence:
                self.violations.append(f"{uri} came back as sequence {sequence}")


class Signed:
    """A participant's browser session: signed in by the join link, it reads the HLS files
    (nginx asks the app whether this cookie may)."""

    def __init__(self, http: Any, url: str, slug: str, join_key: str, tally: MediaTally
                 ) -> None:
        import aiohttp

        self.url, self.slug, self.key, self.tally = url, slug, join_key, tally
        self.own = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         connector=http.connector, connector_owner=False)
        self.timeout = aiohttp.ClientTimeout(5)

    async def get(self, path: str) -> bytes | None:
        try:
            async with self.own.get(f"{self.url}{path}", timeout=self.timeout) as r:
                if r.status == 200:
                    return bytes(await r.read())
                key = str(r.status)
        except Exception as exc:
            key = type(exc).__name__
        self.tally.hls_errors[key] = self.tally.hls_errors.get(key, 0) + 1
        return None

    async def sign_in(self, stop_at: float) -> bool:
        while time.time() < stop_at:
            if await self.get(f"/e/{self.slug}/join/{self.key}") is not None:
                return True
            await asyncio.sleep(1)
        return False

    async def close(self) -> None:
        await self.own.close()


async def play_hls(who: Signed, hls_path: str, until: float,
                   stalls: list[tuple[float, float | None]], watch: PlaylistWatch,
                   seen: dict[str, str]) -> float | None:
    """Play the stage's HLS until `until`, as hls.js does (see the module's docstring); stalls
    are added to `stalls`. Returns when the picture first showed (None if it never did)."""
    tally = who.tally
    base = hls_path.rsplit("/", 1)[0]
    master = None
    while master is None and time.time() < until:
        master = await who.get(hls_path)
        if master is None:
            await asyncio.sleep(1)
    if master is None:
        return None
    variant = [line for line in master.decode().splitlines()
               if line and not line.startswith("#")][-1]  # the smallest rendition
    # Playback at 1x on the wall clock from two segments behind the live edge.
    buffered = 0.0  # media seconds fetched
    clock: float | None = None  # wall time of media second 0
    next_sequence: int | None = None
    while time.time() < until:
        text = await who.get(f"{base}/{variant}")
        fresh, target = False, 2.0
        if text is not None:
            playlist = parse_playlist(text.decode())
            target = playlist.target
            watch.check(playlist)
            if next_sequence is None and len(playlist.segments) >= 3:
                next_sequence = playlist.segments[len(playlist.segments) - 2][0]
            for sequence, duration, uri, jump in playlist.segments:
                if next_sequence is None or sequence < next_sequence:
                    continue
                data = await who.get(f"{base}/{uri}")
                if data is None:
                    break
                digest = hashlib.sha256(data).hexdigest()
                if seen.setdefault(uri, digest) != digest:
                    watch.violations.append(f"{uri} changed")
                tally.hls_discontinuities += jump
                now = time.time()
                if clock is None:
                    clock = now
                elif now > clock + buffered + STALL_MIN_S:  # ran dry: stalled until now
                    stalls.append((clock + buffered, now))
                    clock = now - buffered
                buffered += duration
                next_sequence, fresh = sequence + 1, True
                tally.hls_segments += 1
        await asyncio.sleep(target if fresh else target / 2)
    return clock


async def _hls_player(http: Any, url: str, slug: str, join_key: str, hls_path: str,
                      stop_at: float, tally: MediaTally, n: int) -> None:
    await asyncio.sleep(n * 0.1)
    stalls: list[tuple[float, float | None]] = []
    tally.hls_stalls.append(stalls)
    watch = PlaylistWatch()
    who = Signed(http, url, slug, join_key, tally)
    try:
        if await who.sign_in(stop_at):
            await play_hls(who, hls_path, stop_at, stalls, watch, {})
    finally:
        await who.close()
    tally.hls_violations += watch.violations[:5]


class _ToHls(Exception):
    """The media node answered 503 (full, or its loop running late): play HLS instead."""


async def _whep_viewer(http: Any, url: str, slug: str, me: dict[str, Any], hls_path: str,
                       stop_at: float, tally: MediaTally, n: int) -> None:
    """The live page's player over WebRTC: when no frame has come for DEAD_AFTER_S it offers
    again (each second while the node does not answer); when the node answers 503 it plays HLS
    and tries WebRTC again after WEBRTC_RETRY_S, keeping HLS on until WebRTC carries the picture
    (static/js/webcast_player.js)."""
    from streaming.peers import ViewerPeer

    await asyncio.sleep(n * 0.3)
    stalls: list[tuple[float, float | None]] = []
    tally.whep_stalls.append(stalls)
    headers = {"Authorization": f"Bearer {me['token']}", "Content-Type": SDP}
    who = Signed(http, url, slug, me["key"], tally)
    await who.sign_in(stop_at)
    watch = PlaylistWatch()
    stalled_since: float | None = None
    first = True
    while time.time() < stop_at:
        viewer = ViewerPeer()

        async def exchange(offer: str) -> str:
            async with http.post(f"{url}/whep/{slug}", data=offer, headers=headers) as r:
                if r.status == 503:
                    tally.whep_refused += 1
                    raise _ToHls
                if r.status != 201:
                    raise ConnectionError(f"WHEP {r.status}")
                return str(await r.text())

        try:
            await asyncio.wait_for(viewer.connect(exchange), 10)
            await viewer.wait_video_frames(1, timeout=DEAD_AFTER_S + 5)
        except _ToHls:
            await viewer.close()
            shown = await play_hls(who, hls_path, min(stop_at, time.time() + WEBRTC_RETRY_S),
                                   stalls, watch, {})
            if stalled_since is not None and shown is not None:
                stalls.append((stalled_since, shown))
                stalled_since = None
            first = False if shown is not None else first
            continue  # WebRTC again, the HLS picture counted as shown meanwhile
        except Exception:
            await viewer.close()
            stalled_since = stalled_since or time.time()
            await asyncio.sleep(1.0)
            continue
        if stalled_since is not None and not first:
            stalls.append((stalled_since, time.time()))
        first, stalled_since = False, None
        last_frame, frames = time.time(), viewer.video_frames
        while time.time() < stop_at:
            await asyncio.sleep(0.25)
            if viewer.video_frames != frames:
                if time.time() - last_frame > 1.0:  # a pause it recovered from by itself
                    stalls.append((last_frame, time.time()))
                last_frame, frames = time.time(), viewer.video_frames
            elif time.time() - last_frame > DEAD_AFTER_S:
                stalled_since = last_frame
                break
        tally.whep_frames += viewer.video_frames
        await viewer.close()
    if stalled_since is not None and not first:
        stalls.append((stalled_since, None))
    await who.close()
    tally.hls_violations += watch.violations[:5]


# --------------------------------------------------------------------------- after the day


def video_packets(path: Path) -> list[float]:
    """Presentation times (s) of the video packets of a file, in order."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
         "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(float(line) for line in out.split() if line.strip() and line != "N/A")


def recording_parts(rows: list[dict[str, Any]], media_root: Path, faults: dict[str, float],
                    stage_lost: float | None) -> dict[str, Any]:
    """Each recorded part: its length, its longest gap inside, and for a part cut by the media
    node's death, how much before the kill is missing (the goal: at most one fragment)."""
    parts = []
    for row in rows:
        path = media_root / row["file_path"]
        times = video_packets(path) if path.is_file() else []
        duration = (times[-1] - times[0]) if len(times) > 1 else 0.0
        gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
        part = {"id": row["id"], "status": row["status"], "seconds": round(duration, 2),
                "longest_gap_s": round(gap, 2), "frames": len(times)}
        # The faults this part's span covered, and at most one fragment lost for each.
        began, ended = row["started_at"], row["started_at"] + duration
        part["faults"] = [name for name, at in faults.items() if began <= at <= ended + 2]
        if row["status"] == "interrupted" and stage_lost is not None:
            part["lost_before_kill_s"] = round(max(0.0, stage_lost - ended), 2)
        parts.append(part)
    fragments_lost = sum(
        (p.get("lost_before_kill_s", 0.0) > FRAGMENT_S + 0.5) + (p["longest_gap_s"] > FRAGMENT_S)
        for p in parts)
    return {"parts": parts, "fragment_s": FRAGMENT_S, "parts_losing_more": fragments_lost}


def bagit_valid(bag_zip: bytes, into: Path) -> tuple[bool, str, Path]:
    """Unpack a publication's bag and validate it with bagit (checksums and all)."""
    with zipfile.ZipFile(io.BytesIO(bag_zip)) as z:
        z.extractall(into)
    bags = [p.parent for p in into.rglob("bagit.txt")]
    if len(bags) != 1:
        return False, f"{len(bags)} bags in the zip", into
    bagit = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "bagit.py"
    if not bagit.exists():
        bagit = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "bagit.py"
    done = subprocess.run([str(bagit), "--validate", str(bags[0])], capture_output=True,
                          text=True)
    return done.returncode == 0, (done.stderr or done.stdout).strip()[-300:], bags[0]


def package_rows(bag: Path) -> dict[str, list[dict[str, Any]]]:
    """The record files of a bag (record/qa.json, ...) by part."""
    out: dict[str, list[dict[str, Any]]] = {}
    for stem in ("qa", "notes", "feedback", "polls", "captions"):
        path = bag / "data" / "record" / f"{stem}.json"
        if not path.is_file():
            path = next(iter(bag.rglob(f"record/{stem}.json")), path)
        out[stem] = json.loads(path.read_text()) if path.is_file() else []
    return out


async def publish(url: str, recording_id: int, password: str, into: Path) -> dict[str, Any]:
    """The archivist's part after the day, through nginx: sign in, describe the recording, take
    the day's live captions as its captions, confirm nobody identifiable appears (the
    rehearsal's picture is a test pattern), publish, wait for the job and fetch the BagIt
    package. Returns what happened, the package unpacked under ``into``."""
    import re

    import aiohttp

    base = f"{url}/archive/recordings/{recording_id}"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:

        async def csrf(path: str) -> str:
            async with http.get(f"{url}{path}") as r:
                found = re.search(r'name="csrf-token" content="([^"]+)"', await r.text())
            if not found:
                raise RuntimeError(f"{path}: no CSRF token ({r.status})")
            return found.group(1)

        async def post(path: str, form: dict[str, str]) -> int:
            async with http.post(f"{url}{path}", data=form, allow_redirects=False) as r:
                return r.status

        token = await csrf("/login")
        status = await post("/login", {"csrf_token": token, "username": "arkivarie",
                                       "password": password})
        if status != 302:
            return {"published": False, "error": f"login {status}"}
        token = await csrf(f"/archive/recordings/{recording_id}")
        path = f"/archive/recordings/{recording_id}"
        steps = {
            "edit": await post(path, {"csrf_token": token, "title": "Höstens träff (repetition)",
                                      "description": "Generalrepetitionens scen.",
                                      "speakers": "", "rights": "CC BY 4.0", "trim_in": "0",
                                      "trim_out": "", "poster_at": ""}),
            "live_captions": await post(f"{path}/live-captions", {"csrf_token": token}),
            "no_speakers": await post(f"{path}/no-speakers", {"csrf_token": token, "given": "1"}),
            "publish": await post(f"{path}/publish", {"csrf_token": token}),
        }
        started, state = time.time(), {"status": "?"}
        while time.time() - started < 180:
            async with http.get(f"{base}/progress") as r:
                state = await r.json()
            if state["status"] in ("published", "failed"):
                break
            await asyncio.sleep(0.5)
        result: dict[str, Any] = {"steps": steps, "status": state["status"],
                                  "job_s": round(time.time() - started, 1),
                                  "error": state.get("error")}
        if state["status"] != "published":
            return {**result, "published": False}
        pub_id = int(str(state["play_url"]).rstrip("/").rsplit("/", 1)[1])
        async with http.get(f"{url}/archive/publications/{pub_id}/bag.zip") as r:
            data = await r.read()
    valid, said, bag = await asyncio.to_thread(bagit_valid, data, into)
    return {**result, "published": True, "publication": pub_id, "bag_bytes": len(data),
            "bagit_valid": valid, "bagit_said": said, "bag": str(bag)}
