"""Configuration of the media engine, supplied by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["FanoutMode", "IceServer", "IceServers", "Rendition", "StreamingConfig"]

FanoutMode = Literal["encode_once", "relay"]


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server with its credential (a bare URL string needs none)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


IceServers = tuple["str | IceServer", ...]


@dataclass(frozen=True)
class Rendition:
    """One rung of the stage's ladder: H.264 that fits in ``width`` x ``height`` (the
    publisher's aspect kept, never scaled up) at ``bitrate`` bits per second."""

    width: int
    height: int
    bitrate: int

    @property
    def label(self) -> str:
        """Its name in file names and logs: ``720p``."""
        return f"{self.height}p"

    def fit(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width`` x ``height`` picture is encoded at on this rung (even numbers,
        the aspect kept, never larger than the picture)."""
        scale = min(1.0, self.width / width, self.height / height)
        return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


DEFAULT_LADDER = (Rendition(1280, 720, 2_500_000), Rendition(640, 360, 600_000))
"""720p for most, 360p for a 1 Mbit/s library line (with audio, about 0.7 Mbit/s)."""


@dataclass(frozen=True)
class StreamingConfig:
    """Everything the engine needs to know; ``server`` builds it from its settings.

    ``fanout="relay"`` is aiortc's MediaRelay with one encode per viewer; it
    exists as the benchmark baseline and is not meant for production.
    """

    media_root: Path
    viewer_cap: int = 200
    fanout: FanoutMode = "encode_once"
    fps: int = 30
    keyframe_seconds: float = 2.0
    # The stage's renditions, best first: each encoded once from the one decode. WebRTC viewers
    # start on the first and move between them by their receiver reports; HLS lists them all.
    renditions: tuple[Rendition, ...] = DEFAULT_LADDER
    opus_bitrate: int = 96_000
    aac_bitrate: int = 128_000
    hls_enabled: bool = True
    hls_segment_seconds: float = 2.0
    hls_playlist_size: int = 6
    record_fragment_seconds: float = 1.0
    # A WebRTC session (publisher or viewer) whose ICE and DTLS have not completed this many
    # seconds after its offer is closed: it would otherwise hold a place under the viewer cap.
    connect_timeout: float = 15.0
    # New WebRTC viewers go to HLS while more than 1 % of this process's event-loop wake-ups in
    # the last 5 s were later than this (streaming/hub.py: LoopLag), or while the fan-out falls
    # behind (StageHub.falling_behind); 0 (the engine's default; the server's is 40 ms) turns
    # both off: the fixed cap alone.
    viewer_lag_limit: float = 0.0
    # Empty: no STUN, so nothing leaves the machine unless the server configures it.
    ice_servers: IceServers = field(default_factory=tuple)
    # Asked again for every new peer connection when set (TURN credentials expire).
    ice_provider: Callable[[], IceServers] | None = None

    def current_ice_servers(self) -> IceServers:
        """The ICE servers a peer connection made now uses."""
        return self.ice_provider() if self.ice_provider else self.ice_servers

    @property
    def hls_root(self) -> Path:
        """Directory holding one HLS folder per stage."""
        return self.media_root / "hls"

    @property
    def recordings_root(self) -> Path:
        """Directory holding one recordings folder per stage."""
        return self.media_root / "recordings"
