"""room_event: the afternoon's breakout rooms, 21 rooms of 10 with last-N 4, on one media process.

Run with no arguments (optional: --rooms 3 --people 10 --window 10; also `bench/room_media.py
--event`). This machine cannot drive 210 browsers, so it runs a few rooms of the real size and
scales: the media process (a child, measured with psutil) serves ROOMS rooms of PEOPLE
participants each through streaming/room.py as in production (last-N 4, audio gated to those
speaking). The participants are cheap synthetic peers in this process (aiortc connections,
ICE, DTLS and SRTP as real): each publishes a pre-encoded 640x480 VP8 clip at 30 fps and Opus,
marked speaking in turn (one speaker per room, the next every SPEAK_S seconds, so last-N keeps
moving), and counts what it receives from the RTP headers at the socket (SRTP leaves them in
the clear) instead of decoding: a video frame is on time when all its packets arrived and it
came within 200 ms of the stream's best delay. Expected: each participant receives N videos.

Figures: media CPU, streams forwarded, frames on time (goal >= 95 %), the media CPU one room
needs, and the cores the full event needs (21 rooms; goal <= 2); then the same rooms with
everyone's video to everyone (the baseline, in the same run). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import multiprocessing as mp
import re
import struct
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

from bench.webcast_fanout import _Arrivals, _on_time  # noqa: E402
from streaming.aiortc_compat import prefer_codec, rtc_configuration  # noqa: E402
from streaming.room import LAST_N, ROOM_CODECS  # noqa: E402
from streaming.synthetic import make_frame  # noqa: E402

EVENT_ROOMS, EVENT_PEOPLE = 21, 10
WIDTH, HEIGHT, FPS, BITRATE = 640, 480, 30, 500_000
SPEAK_S = 4.0
WARMUP_S = 6.0
GOAL_ON_TIME, GOAL_CORES = 0.95, 2.0


# -- the media process ------------------------------------------------------------------------


async def _serve(conn: Connection, last_n: int) -> None:
    from streaming.room import RoomRegistry

    loop = asyncio.get_running_loop()
    async with RoomRegistry(lambda: (), last_n=last_n) as registry:
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] == "stop":
                break
            if message[0] == "held":  # audio frames the gate held back / forwarded
                sources = [s for r in registry.rooms for s in r.sources() if s.kind == "audio"]
                conn.send((sum(s.frames_held for s in sources),
                           sum(s.frames_forwarded for s in sources)))
                continue
            _, room_id, who, sdp = message
            answer = await registry.room(room_id).offer(who, sdp)
            conn.send((answer.sdp, [vars(s) for s in answer.slots]))
    conn.send("stopped")


def _media_process(conn: Connection, last_n: int) -> None:
    asyncio.run(_serve(conn, last_n))


# -- the synthetic participants -------------------------------------------------------------


def _clip() -> tuple[list[bytes], list[bytes]]:
    """Two seconds of VP8 (a key frame first) and a second of Opus tone, encoded once."""
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.bit_rate, video.gop_size = BITRATE, 2 * FPS
    video.time_base = fractions.Fraction(1, FPS)
    video.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []
    for index in range(2 * FPS):
        frame = make_frame(WIDTH, HEIGHT, index)
        frame.pts = index
        frames.extend(bytes(p) for p in video.encode(frame))
    frames.extend(bytes(p) for p in video.encode(None))
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format = 48000, "stereo", "s16"
    audio.bit_rate = 32000
    packets: list[bytes] = []
    for index in range(50):
        samples = av.AudioFrame(format="s16", layout="stereo", samples=960)
        tone = b"".join(struct.pack("<hh", v, v) for v in
                        (int(8000 * ((i % 80) / 40 - 1)) for i in range(960)))
        samples.planes[0].update(tone)
        samples.sample_rate, samples.pts = 48000, index * 960
        packets.extend(bytes(p) for p in audio.encode(samples))
    return frames[:2 * FPS], packets


class _ClipTrack(MediaStreamTrack):
    """Plays a pre-encoded clip in real time as packets (aiortc's sender only packetizes);
    after a key-frame request the next packet is the clip's key frame."""

    def __init__(self, kind: str, clip: list[bytes]) -> None:
        super().__init__()
        self.kind = kind
        self._clip, self._index, self._sent = clip, 0, 0
        self._rate, self._clock = (FPS, 90000) if kind == "video" else (50, 48000)
        self._start = time.monotonic()
        self.want_key = False

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        due = self._start + self._sent / self._rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if self.want_key:
            self._index, self.want_key = 0, False
        packet = av.Packet(self._clip[self._index % len(self._clip)])
        packet.pts = self._sent * (self._clock // self._rate)
        packet.time_base = fractions.Fraction(1, self._clock)
        self._index += 1
        self._sent += 1
        return packet


class Participant:
    """Publishes the clip, receives PEOPLE - 1 slot pairs, counts video frames at the socket."""

    def __init__(self, video: list[bytes], audio: list[bytes], slots: int) -> None:
        self.pc = RTCPeerConnection(rtc_configuration((), max_bundle=True))
        self.speaking = False
        self.camera = _ClipTrack("video", video)
        prefer_codec(self.pc.addTransceiver(self.camera, "sendonly"), ROOM_CODECS["video"])
        microphone = self.pc.addTransceiver(_ClipTrack("audio", audio), "sendonly")
        for _ in range(slots):
            prefer_codec(self.pc.addTransceiver("video", "recvonly"), ROOM_CODECS["video"])
            self.pc.addTransceiver("audio", "recvonly")
        self.streams: dict[int, _Arrivals] = {}
        self.audio_packets = 0
        self._level(microphone.sender)
        camera_sender = self.pc.getTransceivers()[0].sender
        camera_sender._send_keyframe = lambda: setattr(self.camera, "want_key", True)

    def _level(self, sender: Any) -> None:
        """Pre-encoded audio carries no level: mark it loud while this one speaks."""
        original = sender._next_encoded_frame

        async def with_level(codec: Any) -> Any:
            frame = await original(codec)
            if frame is not None:
                frame.audio_level = -20 if self.speaking else -127
            return frame

        sender._next_encoded_frame = with_level

    async def join(self, conn: Connection, room: str, who: str) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        loop = asyncio.get_running_loop()
        conn.send(("offer", room, who, self.pc.localDescription.sdp))
        sdp, _slots = await loop.run_in_executor(None, conn.recv)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        video = {int(pt) for pt in re.findall(r"a=rtpmap:(\d+) VP8/", sdp)}
        connection = self.pc.getTransceivers()[0].receiver.transport.transport._connection
        put = connection._queue.put_nowait

        def received(data: bytes, component: int) -> None:
            if len(data) > 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223:
                if data[1] & 0x7F in video:
                    seq, timestamp, ssrc = struct.unpack_from("!HII", data, 2)
                    arrivals = self.streams.get(ssrc)
                    if arrivals is None:
                        arrivals = self.streams[ssrc] = _Arrivals()
                    arrivals.add(seq, timestamp, bool(data[1] & 0x80), time.monotonic())
                else:
                    self.audio_packets += 1
                return
            put((data, component))

        connection.data_received = received

    def on_time(self, start: float, end: float, expected: int, streams: int) -> int:
        """Frames on time in the window, at most ``expected`` per stream, from the ``streams``
        streams that delivered most (a slot moved by last-N counts from its new publisher)."""
        counts = sorted((min(_on_time(a, start, end), expected) for a in self.streams.values()),
                        reverse=True)
        return sum(counts[:streams])


async def _speakers(rooms: list[list[Participant]]) -> None:
    """One speaker per room, the next every SPEAK_S seconds, from the last to join backwards:
    each new speaker is one whose video the others did not receive yet."""
    turn = 0
    while True:
        for people in rooms:
            for index, person in enumerate(people):
                person.speaking = index == (len(people) - 1 - turn) % len(people)
        turn += 1
        await asyncio.sleep(SPEAK_S)


async def measure(
    rooms: int = 3, people: int = EVENT_PEOPLE, window: float = 10.0
) -> dict[str, Any]:
    """Last-N 4, then the baseline in the same run: everyone's video to everyone (the rooms
    before last-N), with the same rooms, participants and speakers."""
    video, audio = _clip()
    summary = await _measure(video, audio, rooms, people, window, LAST_N)
    everyone = await _measure(video, audio, rooms, people, window, people - 1)
    event, base = summary["room_event"], everyone["room_event"]
    event["baseline_all_video"] = {k: base[k] for k in (
        "video_streams_forwarded", "media_cpu_pct", "media_cpu_pct_per_room", "frames_on_time",
        "event_cores_needed")}
    event["cores_last_n_to_all_video"] = round(
        event["event_cores_needed"] / max(0.01, base["event_cores_needed"]), 2)
    return summary


async def _measure(video: list[bytes], audio: list[bytes], rooms: int, people: int,
                   window: float, last_n: int) -> dict[str, Any]:
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_media_process, args=(child, last_n))
    process.start()
    media = psutil.Process(process.pid)
    everyone: list[list[Participant]] = []
    speakers: asyncio.Task[None] | None = None
    try:
        for r in range(rooms):
            room: list[Participant] = []
            for p in range(people):
                person = Participant(video, audio, people - 1)
                await person.join(parent, f"room{r}", f"r{r}p{p}")
                room.append(person)
            everyone.append(room)
        speakers = asyncio.ensure_future(_speakers(everyone))
        await asyncio.sleep(WARMUP_S)
        loop = asyncio.get_running_loop()
        parent.send(("held",))
        held_before, forwarded_before = await loop.run_in_executor(None, parent.recv)
        here = psutil.Process()
        cpu0, ours0, start = media.cpu_times(), here.cpu_times(), time.monotonic()
        await asyncio.sleep(window)
        cpu1, ours1, end = media.cpu_times(), here.cpu_times(), time.monotonic()
        parent.send(("held",))
        held_after, forwarded_after = await loop.run_in_executor(None, parent.recv)
    finally:
        if speakers is not None:
            speakers.cancel()
        for room in everyone:
            for person in room:
                await person.pc.close()
        parent.send(("stop",))
        await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        process.join(10)
    elapsed = end - start
    media_pct = 100 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
    clients_pct = 100 * (ours1.user + ours1.system - ours0.user - ours0.system) / elapsed
    participants = [p for room in everyone for p in room]
    expected = int(FPS * elapsed)
    per_person = min(last_n, people - 1)
    on_time = sum(p.on_time(start, end, expected, per_person) for p in participants)
    ratio = on_time / max(1, len(participants) * per_person * expected)
    per_room = media_pct / rooms
    cores = per_room * EVENT_ROOMS / 100
    audio_held = held_after - held_before
    audio_sent = forwarded_after - forwarded_before
    return {
        "room_event": {
            "rooms": rooms, "people_per_room": people, "last_n": last_n,
            "video_streams_forwarded": len(participants) * per_person,
            "media_cpu_pct": round(media_pct, 1), "media_cpu_pct_per_room": round(per_room, 1),
            "frames_on_time": round(ratio, 3),
            "audio_frames_held_share": round(audio_held / max(1, audio_held + audio_sent), 3),
            "clients_cpu_pct": round(clients_pct, 1),
            "event_rooms": EVENT_ROOMS, "event_cores_needed": round(cores, 2),
            "goals": {"frames_on_time": f">= {GOAL_ON_TIME}",
                      "event_cores_needed": f"<= {GOAL_CORES}"},
            "goals_met": {"frames_on_time": ratio >= GOAL_ON_TIME,
                          "event_cores_needed": cores <= GOAL_CORES},
            "load_average_1m": round(psutil.getloadavg()[0], 1),
        }
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--people", type=int, default=EVENT_PEOPLE)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args(argv)
    summary = asyncio.run(measure(args.rooms, args.people, args.window))
    event = summary["room_event"]
    print(f"{event['rooms']} rooms of {event['people_per_room']}, last-N {event['last_n']}: "
          f"{event['video_streams_forwarded']} video streams, media CPU {event['media_cpu_pct']} % "
          f"of a core ({event['media_cpu_pct_per_room']} % per room), frames on time "
          f"{event['frames_on_time']:.1%} (goal >= 95 %), audio held back by the gate "
          f"{event['audio_frames_held_share']:.0%}, participants' CPU {event['clients_cpu_pct']} %")
    base = event["baseline_all_video"]
    print(f"baseline, everyone's video to everyone: {base['video_streams_forwarded']} video "
          f"streams, media CPU {base['media_cpu_pct']} %, frames on time "
          f"{base['frames_on_time']:.1%}, {base['event_cores_needed']} cores for the event")
    print(f"the full event ({EVENT_ROOMS} rooms): {event['event_cores_needed']} cores (goal <= 2), "
          f"{event['cores_last_n_to_all_video']}x the baseline's")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
