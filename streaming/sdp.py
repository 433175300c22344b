"""Validation of SDP offers received over WHIP (publish) and WHEP (view).

The offer comes from the network, so it is checked before aiortc sees it:
bounded size, parseable, ICE and DTLS credentials present, and media lines
whose directions and codecs fit the purpose.
"""

from __future__ import annotations

from typing import Literal

from aiortc.sdp import MediaDescription, SessionDescription

from .errors import StreamingError

__all__ = ["MAX_SDP_BYTES", "Purpose", "validate_offer"]

MAX_SDP_BYTES = 64 * 1024
Purpose = Literal["publish", "view"]

_SENDING = ("sendonly", "sendrecv")
_RECEIVING = ("recvonly", "sendrecv")


def _invalid(reason: str) -> StreamingError:
    return StreamingError("sdp.invalid", reason)


def _parse(offer: str) -> SessionDescription:
    if not isinstance(offer, str) or not offer.strip():
        raise _invalid("the offer is empty")
    if len(offer.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise _invalid(f"the offer is larger than {MAX_SDP_BYTES} bytes")
    if not offer.lstrip().startswith("v=0"):
        raise _invalid("the offer does not start with v=0")
    try:
        return SessionDescription.parse(offer)
    except Exception as exc:  # aiortc raises bare ValueError/IndexError/KeyError
        raise _invalid(f"the offer does not parse ({type(exc).__name__})") from exc


def _active_media(session: SessionDescription) -> list[MediaDescription]:
    media = [m for m in session.media if m.kind in ("audio", "video") and m.port != 0]
    if not media:
        raise _invalid("the offer has no audio or video m-line")
    return media


def _check_transport(media: MediaDescription) -> None:
    ice = media.ice
    if ice is None or not ice.usernameFragment or not ice.password:
        raise _invalid(f"the {media.kind} m-line has no ICE credentials")
    if media.dtls is None or not media.dtls.fingerprints:
        raise _invalid(f"the {media.kind} m-line has no DTLS fingerprint")


def _codec_names(media: MediaDescription) -> set[str]:
    return {codec.mimeType.lower() for codec in media.rtp.codecs}


def _check_view_codecs(media: MediaDescription) -> None:
    wanted = "video/h264" if media.kind == "video" else "audio/opus"
    if wanted not in _codec_names(media):
        raise _invalid(f"the {media.kind} m-line does not offer {wanted}")


def validate_offer(
    offer: str, purpose: Purpose, *, require_stage_codecs: bool = True
) -> SessionDescription:
    """Check an incoming offer and return it parsed.

    For ``publish`` at least one m-line must send (sendonly/sendrecv); for
    ``view`` every m-line must receive (recvonly/sendrecv) and, when
    ``require_stage_codecs``, offer the codecs the stage sends without
    re-encoding (H.264 video, Opus audio). Raises ``StreamingError("sdp.invalid")``.
    """
    session = _parse(offer)
    media = _active_media(session)
    for m in media:
        _check_transport(m)
        if not m.rtp.codecs:
            raise _invalid(f"the {m.kind} m-line lists no codec")
    if purpose == "publish":
        if not any((m.direction or "sendrecv") in _SENDING for m in media):
            raise _invalid("a publish offer must send audio or video")
        return session
    for m in media:
        if (m.direction or "sendrecv") not in _RECEIVING:
            raise _invalid(f"a view offer must receive its {m.kind} m-line")
        if require_stage_codecs:
            _check_view_codecs(m)
    return session
