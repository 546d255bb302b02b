"""HDR in, SDR out: rtstyle's tone mapping measured against the SDR reference of the same scene.

The SDR reference is the first frames of an SDR BT.709 clip (default: ../shared's Big Buck Bunny).
The HDR clips are those frames mapped by FFmpeg's swscale as ITU-R BT.2408 maps SDR into HDR (SDR
white at 203 nits, HLG 75%), in BT.2020, as 10-bit HEVC: once HLG, once PQ. Each is read back
through rtstyle's VideoReader (what a network is given), and, for comparison, read as if it were
SDR and tone-mapped by swscale alone (``intent=perceptual``). Prints each one's colour statistics.

    python benchmarks/hdr_tonemap.py [CLIP] [--frames N]
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rtstyle.colorspace import _Filter
from rtstyle.video import VideoReader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "big_buck_bunny_720p_5s.mp4"
TRANSFERS = {"HLG": ("arib-std-b67", 18), "PQ": ("smpte2084", 16)}


def sdr_frames(path: Path, count: int) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return [f for f, _ in zip(c.decode(video=0), range(count), strict=False)]


def write_hdr(frames: list[av.VideoFrame], path: Path, transfer: str) -> None:
    name, number = TRANSFERS[transfer]
    first = frames[0]
    to_hdr = _Filter((first.width, first.height), first.format.name,
                     "in_color_matrix=bt709:in_range=tv:in_primaries=bt709:in_transfer=bt709:"
                     f"out_transfer={name}:out_primaries=bt2020:out_color_matrix=bt2020nc:out_range=tv:"
                     "intent=relative_colorimetric", "yuv420p10le")
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx265", rate=25, options={"x265-params": "log-level=error"})
        video.width, video.height, video.pix_fmt = first.width, first.height, "yuv420p10le"
        cc = video.codec_context
        cc.time_base = Fraction(1, 25)
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 9, 9, number, 1
        for i, frame in enumerate(frames):
            frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range = 1, 1, 1, 1
            hdr = to_hdr(frame)
            hdr.pts, hdr.time_base = i, Fraction(1, 25)
            c.mux(video.encode(hdr))
        c.mux(video.encode(None))


def report(name: str, got: np.ndarray, sdr: np.ndarray) -> None:
    mean, std = got.mean(axis=(0, 1, 2)), got.std(axis=(0, 1, 2))
    line = f"{name:36s} mean BGR {np.round(mean, 1)}  std {np.round(std, 1)}"
    if got is not sdr:
        line += f"  off by {np.round(mean - sdr.mean(axis=(0, 1, 2)), 1)}  mean |diff| {np.abs(got - sdr).mean():.2f}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", type=Path, default=SHARED, help="an SDR BT.709 clip")
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    frames = sdr_frames(args.clip, args.frames)
    sdr = np.stack([f.reformat(format="bgr24", src_colorspace="itu709", src_color_range=1, dst_color_range=2)
                    .to_ndarray() for f in frames]).astype(float)
    report("SDR reference (BT.709)", sdr, sdr)
    with tempfile.TemporaryDirectory() as tmp:
        for transfer in TRANSFERS:
            path = Path(tmp) / f"{transfer}.mp4"
            write_hdr(sdr_frames(args.clip, args.frames), path, transfer)
            with VideoReader(path) as reader:
                report(f"{transfer}: rtstyle", np.stack(list(reader)).astype(float), sdr)
            with av.open(str(path)) as c:
                decoded = list(c.decode(video=0))
            as_sdr = [f.reformat(format="bgr24", src_colorspace="bt2020", src_color_range=1, dst_color_range=2)
                      .to_ndarray() for f in decoded]
            report(f"{transfer}: read as SDR, no tone mapping", np.stack(as_sdr).astype(float), sdr)
            perceptual = _Filter((decoded[0].width, decoded[0].height), decoded[0].format.name,
                                 "out_transfer=bt709:out_primaries=bt709:out_color_matrix=bt709:out_range=pc:"
                                 "intent=perceptual", "bgr24")
            report(f"{transfer}: swscale's perceptual alone",
                   np.stack([perceptual(f).to_ndarray() for f in decoded]).astype(float), sdr)


if __name__ == "__main__":
    main()
