"""DTLS with any standard peer (issue 21, point 3): RSA and ECDSA certificates, both roles.

aiortc's own certificate is ECDSA and it offered only ECDHE-ECDSA suites, so when it was the DTLS
client of a peer with an RSA certificate (GStreamer's webrtcbin in Debian 12, hardware
encoders) the handshake failed with "no shared cipher" after ICE had completed. Here two real
aiortc peers shake hands over loopback, one of them with an RSA certificate, in each DTLS role.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate, generate_certificate
from cryptography.hazmat.primitives.asymmetric import rsa

from streaming.aiortc_compat import DTLS_CIPHERS, accept_rsa_peers, rtc_configuration


@contextlib.contextmanager
def rsa_certificates() -> Iterator[None]:
    """Peer connections made inside present an RSA certificate, as GStreamer's do."""
    original = RTCCertificate.generateCertificate

    def rsa_certificate(cls: type[RTCCertificate]) -> RTCCertificate:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key=key, cert=generate_certificate(key))  # type: ignore[arg-type]

    RTCCertificate.generateCertificate = classmethod(rsa_certificate)  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        RTCCertificate.generateCertificate = original  # type: ignore[method-assign]


async def handshake(rsa_offerer: bool) -> str:
    """Offerer (actpass: the DTLS server, as aiortc answers `active`) and answerer over
    loopback with a data channel; the answerer's state once settled."""
    if rsa_offerer:
        with rsa_certificates():
            offerer = RTCPeerConnection(rtc_configuration(()))
        answerer = RTCPeerConnection(rtc_configuration(()))
    else:
        offerer = RTCPeerConnection(rtc_configuration(()))
        with rsa_certificates():
            answerer = RTCPeerConnection(rtc_configuration(()))
    settled = asyncio.get_running_loop().create_future()

    @answerer.on("connectionstatechange")
    def changed() -> None:
        if answerer.connectionState in ("connected", "failed") and not settled.done():
            settled.set_result(answerer.connectionState)

    try:
        offerer.createDataChannel("probe")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert "a=setup:active" in answerer.localDescription.sdp  # the answerer is the client
        await offerer.setRemoteDescription(answerer.localDescription)
        return str(await asyncio.wait_for(settled, 20))
    finally:
        await offerer.close()
        await answerer.close()


@pytest.fixture
def aiortc_as_shipped() -> Iterator[None]:
    """aiortc's own cipher list, for the test that shows what failed."""
    patched = RTCCertificate._create_ssl_context
    original = getattr(patched, "__wrapped__", None)
    if original is not None:
        RTCCertificate._create_ssl_context = original  # type: ignore[method-assign]
    try:
        yield
    finally:
        RTCCertificate._create_ssl_context = patched  # type: ignore[method-assign]


async def test_aiortc_as_shipped_cannot_be_the_client_of_an_rsa_peer(aiortc_as_shipped) -> None:  # type: ignore[no-untyped-def]
    assert await handshake(rsa_offerer=True) == "failed"


async def test_dtls_works_with_rsa_peers_in_both_roles() -> None:
    accept_rsa_peers()
    assert await handshake(rsa_offerer=True) == "connected"  # we are the DTLS client
    assert await handshake(rsa_offerer=False) == "connected"  # we are the DTLS server
    assert b"ECDHE-RSA-AES128-GCM-SHA256" in DTLS_CIPHERS
