"""Träffpunkt media engine: WebRTC publish/view with encode-once fan-out, HLS and recording.

Framework-free: the server supplies configuration and a listener and maps
:class:`StreamingError` codes onto HTTP statuses and socket events.
"""

from .config import FanoutMode, StreamingConfig
from .engine import MediaEngine
from .errors import StreamingError
from .stage import Stage, StageEvent, StageListener

__all__ = [
    "FanoutMode",
    "MediaEngine",
    "Stage",
    "StageEvent",
    "StageListener",
    "StreamingConfig",
    "StreamingError",
]
