"""A video's colour: decoded frames to BGR by what their tags say, HDR tone-mapped to SDR BT.709,
and the tags an output carries.

Numbers are FFmpeg's ``AVCOL_*`` values (libavutil/pixfmt.h), as PyAV reports them on frames and
codec contexts. FFmpeg converts with BT.601 when a file does not say its matrix; players use
BT.709 for HD, and so do we, on the way in and out alike.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

log = logging.getLogger(__name__)

BT709, UNSPECIFIED, BT470BG, SMPTE170M, BT2020 = 1, 2, 5, 6, 9  # matrix; primaries and transfer share 1, 2, 6, 9
PQ, HLG = 16, 18  # transfers (SMPTE ST 2084, ARIB STD-B67)
TV, PC = 1, 2  # ranges: limited (16-235) and full
_SWS_MATRIX = {BT709: Colorspace.ITU709, BT470BG: Colorspace.ITU601, SMPTE170M: Colorspace.ITU601,
               BT2020: Colorspace.BT2020, 10: Colorspace.BT2020, 7: Colorspace.SMPTE240M, 4: Colorspace.FCC}
_NAMES = {"matrix": {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc", 10: "bt2020c"},
          "primaries": {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"},
          "transfer": {1: "bt709", 6: "smpte170m", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084",
                       18: "arib-std-b67"}}
REFERENCE_WHITE = 203.0  # nits: HDR's diffuse white, which SDR's 100% stands for (ITU-R BT.2408)
KNEE = 0.75  # of reference white (linear): below it tone mapping changes nothing
# swscale's default rounding darkens BGR → YUV → BGR by 1.7-2.7 levels; these flags make it exact on average
# (bilinear chroma is as exact here as bicubic, 0.40 levels a pixel, and converts a 1080p frame to BGR in
# 7.7 ms against 17.8).
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


@dataclass(frozen=True)
class ColourTags:
    """What a stream or frame says of its colour: matrix, primaries, transfer and range."""

    matrix: int = UNSPECIFIED
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    range: int = 0  # unspecified: limited, for YUV

    @classmethod
    def of(cls, source: av.VideoFrame | av.video.codeccontext.VideoCodecContext) -> ColourTags:
        return cls(source.colorspace, source.color_primaries, source.color_trc, source.color_range)

    @property
    def hdr(self) -> bool:
        return self.transfer in (PQ, HLG)

    def describe(self) -> str:
        parts = [_NAMES[k].get(getattr(self, k), "unknown") for k in ("matrix", "primaries", "transfer")]
        return "/".join(parts) + ("/full" if self.range == PC else "/limited")


def sdr_matrix(matrix: int, height: int) -> int:
    """The matrix to convert with: the one given, else BT.709 for HD (720 lines and up), BT.601 below."""
    if matrix in _SWS_MATRIX:
        return matrix
    return BT709 if height >= 720 else SMPTE170M


_LUMA = {BT709: (0.2126, 0.0722), BT470BG: (0.299, 0.114), SMPTE170M: (0.299, 0.114), BT2020: (0.2627, 0.0593),
         10: (0.2627, 0.0593), 7: (0.212, 0.087), 4: (0.30, 0.11)}  # (Kr, Kb) of each matrix


@functools.cache
def yuv_from_bgr(matrix: int) -> np.ndarray:
    """3×4 float32: limited-range Y, U, V from B, G, R (0–255) by ``matrix`` (``cv2.transform``'s form;
    the last column is the offset, so a difference of two pictures takes only the 3×3 part)."""
    kr, kb = _LUMA[sdr_matrix(matrix, 720)]
    luma = np.array([kb, 1 - kr - kb, kr])  # B, G, R
    y = luma * 219 / 255
    u = (np.array([1.0, 0, 0]) - luma) / (2 * (1 - kb)) * 224 / 255
    v = (np.array([0, 0, 1.0]) - luma) / (2 * (1 - kr)) * 224 / 255
    return _frozen(np.column_stack([np.stack([y, u, v]), [16, 128, 128]]).astype(np.float32))


@functools.cache
def bgr_from_yuv(matrix: int) -> np.ndarray:
    """3×4 float32, the inverse of :func:`yuv_from_bgr`: B, G, R from limited-range Y, U, V."""
    forward = yuv_from_bgr(matrix).astype(np.float64)
    inverse = np.linalg.inv(forward[:, :3])
    return _frozen(np.column_stack([inverse, -inverse @ forward[:, 3]]).astype(np.float32))


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only: the matrices above are cached and shared by every frame."""
    array.setflags(write=False)
    return array


def output_tags(source: ColourTags, height: int) -> ColourTags:
    """What an output is converted with and tagged as: the input's own matrix, primaries and transfer
    where it is SDR BT.709, BT.601 or BT.2020 and says so; BT.709 for HDR (tone-mapped) and HD
    that does not say; BT.601 (SMPTE 170M) for such SD. Always limited range, as players expect."""
    if source.hdr:
        return ColourTags(BT709, BT709, BT709, TV)
    matrix = sdr_matrix(source.matrix, height)
    default = {BT709: BT709, BT2020: BT2020, 10: BT2020}.get(matrix, SMPTE170M)
    primaries = source.primaries if source.primaries in (BT709, BT470BG, SMPTE170M, BT2020) else default
    transfer = source.transfer if source.transfer in (BT709, SMPTE170M, 14, 15) else \
        (BT709 if default != SMPTE170M else SMPTE170M)
    return ColourTags(matrix, primaries, transfer, TV)


class FrameConverter:
    """Decoded frames → uint8 BGR H×W×3 by each frame's own matrix and range; HLG and PQ frames
    tone-mapped to SDR BT.709 (:class:`ToneMapper`). One swscale context serves every frame."""

    def __init__(self) -> None:
        self._sws = VideoReformatter()
        self._back = VideoReformatter()  # BGR → YUV, for i420: a context of its own, not rebuilt for every frame
        self._tone: ToneMapper | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        tags = ColourTags.of(frame)
        if tags.hdr:
            if self._tone is None or not self._tone.fits(frame):
                self._tone = ToneMapper(frame)
            return self._tone(frame)
        return self._sws.reformat(frame, format="bgr24",
                                  src_colorspace=_SWS_MATRIX[sdr_matrix(tags.matrix, frame.height)],
                                  src_color_range=ColorRange.JPEG if tags.range == PC else ColorRange.MPEG,
                                  dst_color_range=ColorRange.JPEG, interpolation=ACCURATE).to_ndarray()

    def i420(self, frame: av.VideoFrame, tags: ColourTags) -> np.ndarray:
        """The frame as an I420 picture, (H·3/2)×W, in the colour ``tags`` say (limited range, an odd
        side made even by repeating the last row or column): as decoded where it is that already,
        else converted to BGR (tone-mapped if HDR) and back."""
        own = ColourTags.of(frame)
        if (frame.format.name == "yuv420p" and not own.hdr and own.range != PC and frame.width % 2 == 0
                and frame.height % 2 == 0 and sdr_matrix(own.matrix, frame.height) == tags.matrix):
            return frame.to_ndarray(format="yuv420p")
        image = self(frame)
        image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        return bgr_to_yuv(self._back, image, tags).to_ndarray(format="yuv420p")


def bgr_to_yuv(sws: VideoReformatter, image: np.ndarray, tags: ColourTags) -> av.VideoFrame:
    """A uint8 BGR H×W×3 picture (even sides) as a yuv420p frame converted with and tagged as ``tags``."""
    frame = sws.reformat(av.VideoFrame.from_ndarray(image, format="bgr24"), format="yuv420p",
                         src_color_range=ColorRange.JPEG, dst_colorspace=_SWS_MATRIX[tags.matrix],
                         dst_color_range=ColorRange.MPEG, interpolation=ACCURATE)
    tag(frame, tags)
    return frame


def tag(target: av.VideoFrame | av.video.codeccontext.VideoCodecContext, tags: ColourTags) -> None:
    target.colorspace, target.color_primaries = tags.matrix, tags.primaries
    target.color_trc, target.color_range = tags.transfer, tags.range


class ToneMapper:
    """HLG or PQ (BT.2020, 10-bit) frames → SDR BT.709 uint8 BGR.

    FFmpeg's swscale does the transfer and gamut conversions (through the ``scale`` filter: this
    PyAV's FFmpeg has no zimg). Its own tone mapping (``intent=perceptual``) squeezes the whole
    1000-nit range into SDR, so diffuse white (HLG 75%) comes out at 69% and pictures look dim;
    its ``relative_colorimetric`` intent keeps white where SDR has it but clips every highlight.
    So swscale decodes to PQ (no clipping up to 10,000 nits) in BT.709 primaries, the highlights
    above :data:`KNEE` × reference white (203 nits, ITU-R BT.2408) are rolled off towards SDR's
    white on the brightest channel (hues kept), and the result is encoded for BT.1886's 2.4 gamma,
    as swscale decodes SDR BT.709. (swscale takes seconds to build the look-up table for each
    change of transfer, on the first frame; one is enough.)
    """

    def __init__(self, frame: av.VideoFrame):
        self.size, self.format = (frame.width, frame.height), frame.format.name
        tags = ColourTags.of(frame)
        source = (f"in_color_matrix={_NAMES['matrix'].get(tags.matrix, 'bt2020nc')}:"
                  f"in_range={'pc' if tags.range == PC else 'tv'}:"
                  f"in_primaries={_NAMES['primaries'].get(tags.primaries, 'bt2020')}:"
                  f"in_transfer={_NAMES['transfer'][tags.transfer]}")
        self._decode = _Filter(self.size, self.format, f"{source}:out_transfer=smpte2084:out_primaries=bt709:"
                               "out_color_matrix=bt709:out_range=pc:intent=relative_colorimetric", "gbrpf32le")
        log.debug("tone mapping %s frames of %s", self.format, tags.describe())

    def fits(self, frame: av.VideoFrame) -> bool:
        return (frame.width, frame.height) == self.size and frame.format.name == self.format

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        rgb = roll_off(pq_to_nits(self._decode(frame).to_ndarray()) / REFERENCE_WHITE)
        return np.ascontiguousarray((rgb[..., ::-1] ** (1 / 2.4) * 255 + 0.5).astype(np.uint8))


_M1, _M2, _C1, _C2, _C3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32


def pq_to_nits(signal: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084's EOTF: PQ code values in [0, 1] → light in nits (float32)."""
    e = np.clip(signal, 0, 1) ** (1 / _M2)
    return (10000 * (np.maximum(e - _C1, 0) / (_C2 - _C3 * e)) ** (1 / _M1)).astype(np.float32)


def roll_off(light: np.ndarray, knee: float = KNEE) -> np.ndarray:
    """Linear RGB (1: SDR white) with highlights above ``knee`` rolled off to below 1 by the
    brightest channel (tanh: continuous in value and slope at the knee), every channel scaled alike."""
    peak = light.max(axis=-1, keepdims=True)
    over = peak > knee
    rolled = knee + (1 - knee) * np.tanh((peak - knee) / (1 - knee))
    scale = np.where(over, rolled / np.maximum(peak, 1e-6), 1.0)
    return np.ascontiguousarray(light * scale, dtype=np.float32)


class _Filter:
    """One ``scale`` filter (then a pixel format) as an FFmpeg filter graph, frame in, frame out."""

    def __init__(self, size: tuple[int, int], fmt: str, scale: str, out_format: str):
        self._graph = av.filter.Graph()
        source = self._graph.add_buffer(width=size[0], height=size[1], format=av.VideoFormat(fmt),
                                        time_base=Fraction(1, 1000))
        nodes = [source, self._graph.add("scale", scale), self._graph.add("format", out_format),
                 self._graph.add("buffersink")]
        for a, b in zip(nodes, nodes[1:], strict=False):
            a.link_to(b)
        self._graph.configure()
        self._pushed = 0

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        frame.pts, self._pushed = self._pushed, self._pushed + 1  # read the frame's own pts before this
        self._graph.push(frame)
        return cast(av.VideoFrame, self._graph.pull())
