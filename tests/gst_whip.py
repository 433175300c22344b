"""A WHIP publisher built on GStreamer's webrtcbin, as a venue's encoder would be (issue 21).

Run by Debian's own Python (`/usr/bin/python3`, which has `python3-gi`), not the project's:
    /usr/bin/python3 tests/gst_whip.py URL TOKEN CODEC SECONDS [PATTERN]
CODEC is `h264` or `vp8`. A 1280x720 test picture at 30 fps (videotestsrc PATTERN, `ball` by
default; `snow` is noise, which needs every bit a rendition may use) and a sine tone (Opus) are
offered with every ICE candidate in the offer (no trickle), the answer from `POST URL` (bearer
TOKEN) is applied, and the pipeline runs SECONDS. Prints one line per state change; exits 0 when the
peer connection reached `connected`, 1 otherwise (2 when the server refused the offer).
webrtcbin in GStreamer 1.22 presents an RSA DTLS certificate: the case aiortc failed.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO = {
    "h264": ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=1500 ! "
             "video/x-h264,profile=constrained-baseline ! "
             "rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=102 ! "
             "application/x-rtp,media=video,encoding-name=H264,payload=102"),
    "vp8": ("vp8enc deadline=1 target-bitrate=1500000 keyframe-max-dist=60 ! rtpvp8pay pt=96 ! "
            "application/x-rtp,media=video,encoding-name=VP8,payload=96"),
}


def main(url: str, token: str, codec: str, seconds: float, pattern: str = "ball") -> int:
    Gst.init(None)
    pipeline = Gst.parse_launch(
        "webrtcbin name=w bundle-policy=max-bundle "
        f"videotestsrc is-live=true pattern={pattern} ! "
        "video/x-raw,width=1280,height=720,framerate=30/1 ! videoconvert ! queue ! "
        f"{VIDEO[codec]} ! w. "
        "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! queue ! "
        "opusenc ! rtpopuspay pt=111 ! "
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w.")
    webrtc = pipeline.get_by_name("w")
    loop = GLib.MainLoop()
    result = {"code": 1}

    def say(what: str) -> None:
        print(what, flush=True)

    def post(offer_sdp: str) -> None:
        request = urllib.request.Request(url, data=offer_sdp.encode(), method="POST", headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:
                say(f"whip {answer.status}")
                text = answer.read().decode()
        except urllib.error.HTTPError as exc:
            say(f"whip {exc.code} {exc.read().decode()[:300]}")
            result["code"] = 2
            loop.quit()
            return
        _, sdp = GstSdp.SDPMessage.new_from_text(text)
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        webrtc.emit("set-remote-description", description, Gst.Promise.new())

    complete = GstWebRTC.WebRTCICEGatheringState.COMPLETE

    def gathered(element: Gst.Element, _pspec: object) -> None:
        if element.get_property("ice-gathering-state") == complete:
            local = element.get_property("local-description")
            GLib.idle_add(lambda: post(local.sdp.as_text()) and False)

    def offered(promise: Gst.Promise) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None and reply.has_field("offer") else None
        if offer is None:
            say(f"no offer: {reply.to_string() if reply is not None else 'no reply'}")
            loop.quit()
            return
        webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def negotiate(element: Gst.Element) -> None:
        element.emit("create-offer", None, Gst.Promise.new_with_change_func(offered))

    def state(element: Gst.Element, _pspec: object) -> None:
        now = element.get_property("connection-state")
        say(f"connection {now.value_nick}")
        if now == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            result["code"] = 0
        elif now == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            loop.quit()

    webrtc.connect("on-negotiation-needed", negotiate)
    webrtc.connect("notify::ice-gathering-state", gathered)
    webrtc.connect("notify::connection-state", state)
    pipeline.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    return result["code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), *sys.argv[5:6]))
