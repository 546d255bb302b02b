"""Painted frames shown the moment they arrive: the playout-delay RTP header extension for aiortc.

Chrome holds every received video frame back by its jitter buffer's target delay before showing it,
to smooth the frame pace: 40-55 ms on the live page here, growing over a minute as the CPU gets
busier, which is most of the latency the browser adds. A sender can ask the receiver for no such
delay with the playout-delay header extension, minimum and maximum both 0 ("play the frame as soon
as possible", the cloud-gaming setting):
https://webrtc.googlesource.com/src/+/refs/heads/main/docs/native-code/rtp-hdrext/playout-delay

aiortc negotiates and writes a fixed set of header extensions; :func:`install` adds this one to
the video extensions it answers with and to every RTP packet it sends where it was negotiated.
"""

from __future__ import annotations

from aiortc import codecs, rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
NO_DELAY = bytes(3)  # 12 bits of minimum then 12 of maximum delay, in 10-ms units: both 0


class HeaderExtensionsMap(rtp.HeaderExtensionsMap):
    """aiortc's map, which also writes the playout delay (as no delay) where it was negotiated."""

    def configure(self, parameters: RTCRtpParameters) -> None:
        super().configure(parameters)
        self.playout_delay = next((ext.id for ext in parameters.headerExtensions if ext.uri == URI), None)

    def set(self, values: rtp.HeaderExtensions) -> tuple[int, bytes]:
        profile, value = super().set(values)
        if getattr(self, "playout_delay", None) is None:
            return profile, value
        return rtp.pack_header_extensions([*rtp.unpack_header_extensions(profile, value),
                                           (self.playout_delay, NO_DELAY)])


def install() -> None:
    """Offer the extension in aiortc's answers and write it from its senders (idempotent)."""
    video = codecs.HEADER_EXTENSIONS["video"]
    if all(ext.uri != URI for ext in video):
        # the id only matters when aiortc makes the offer; answers take the offer's ids
        video.append(RTCRtpHeaderExtensionParameters(id=max(ext.id for ext in video) + 1, uri=URI))
    rtp.HeaderExtensionsMap = HeaderExtensionsMap  # type: ignore[misc]
