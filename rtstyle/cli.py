"""``rtstyle`` command line: every error becomes one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from rtstyle import __version__
from rtstyle.engine import DEVICES
from rtstyle.errors import InputError, RtstyleError, reporting_errors
from rtstyle.models import installed_styles
from rtstyle.options import engine_options, make_engine
from rtstyle.temporal import Stabilizer, StabilizerConfig

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _color_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preserve-colors", action="store_true",
                   help="keep the input's colours: only the painting's strokes and shading are taken")


def _video_options(p: argparse.ArgumentParser) -> None:
    """How `rtstyle video` and `rtstyle batch` paint and encode."""
    engine_options(p)
    _color_option(p)
    p.add_argument("--batch", type=int, help="frames per inference call (default: 1 on a CPU, 8 on a GPU)")
    p.add_argument("--stabilize", action=argparse.BooleanOptionalAction, default=True,
                   help="blend the previous output along the optical flow against flicker (default: on)")
    p.add_argument("--stabilize-strength", type=float, default=StabilizerConfig().strength, metavar="W",
                   help="weight of the previous output where the flow is reliable, 0–1")
    p.add_argument("--encoder", choices=("auto", "libx264", "h264_nvenc"), default="auto",
                   help="auto: NVENC where an NVIDIA GPU can encode, libx264 otherwise")
    p.add_argument("--json", action="store_true", help="print a JSON result on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def cmd_video(args: argparse.Namespace) -> int:
    from rtstyle.pipeline import check_paths, stylize_video

    if args.batch is not None and args.batch < 1:
        raise InputError("--batch must be at least 1")
    check_paths(args.input, args.output)
    # Decoding and encoding share the cores: onnxruntime's idle threads must not busy-wait beside them
    # (1080p: 9.2 -> 11.0 fps end to end; 4K: 3.4 -> 3.9 on two cores), and it leaves them a core.
    engine = make_engine(args, beside_codecs=True)
    stabilizer = Stabilizer(StabilizerConfig(strength=args.stabilize_strength)) if args.stabilize else None
    result = stylize_video(args.input, args.output, engine, batch_size=args.batch, stabilizer=stabilizer,
                           encoder=args.encoder, preserve_colors=args.preserve_colors, progress=_show_progress(args))
    stages = {k: v for k, v in vars(result.times).items() if v is not None}
    report = {"output": str(args.output), "frames": result.frames, "duration": round(result.duration, 3),
              "seconds": round(result.seconds, 3),
              "fps": round(result.fps, 2), "provider": engine.provider, "precision": engine.precision,
              "style": engine.style, "stabilize": args.stabilize,
              "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
              # the share of the run each stage was busy: the one near 1 is what limits the fps
              "stage_share": {k: round(v / result.seconds, 3) if result.seconds else 0.0 for k, v in stages.items()},
              "cpu_nodes": engine.cpu_nodes.get(engine.style)}  # a GPU session's nodes left on the CPU, or None
    if args.json:
        print(json.dumps(report))
    elif not args.quiet:
        print(f"{args.output}: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} fps, "
              f"{engine.style}, {engine.provider})", file=sys.stderr)
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from rtstyle.batch.command import cmd_batch as run

    return run(args, progress=_show_progress(args))


def cmd_image(args: argparse.Namespace) -> int:
    from rtstyle.pipeline import stylize_image_file

    source, target = Path(args.input), Path(args.output)
    if not source.exists():
        raise InputError(f"input not found: {source}")
    engine = make_engine(args)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"no images in {source}")
        target.mkdir(parents=True, exist_ok=True)
        pairs = [(f, target / f.name) for f in files]
    else:
        pairs = [(source, target)]
    if any(s.resolve() == t.resolve() for s, t in pairs if t.exists()):
        raise InputError("output would overwrite the input")
    for s, t in pairs:
        stylize_image_file(s, t, engine, preserve_colors=args.preserve_colors)
    if not args.quiet:
        print(f"{len(pairs)} image(s) written with {engine.style}", file=sys.stderr)
    return 0


def cmd_styles(args: argparse.Namespace) -> int:
    styles = installed_styles()
    if args.json:
        print(json.dumps([s.describe() for s in styles], indent=2))
        return 0
    if not styles:
        print("no styles installed")
    for s in styles:
        print(f"{s.name:<18} {s.variant:<5} {s.title}   [{s.metadata.get('license', 'license unknown')}]")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Stylize a built-in synthetic clip (with sound): needs no camera, download or data.

    Without ``--style``, the default painting's network that ``--variant auto`` picks: the fast one on a CPU."""
    from rtstyle.engine import auto_variant
    from rtstyle.models import default_style, pick_variant
    from rtstyle.pipeline import stylize_video
    from rtstyle.synthetic import write_clip

    if args.style:
        engine = make_engine(args)
    else:
        base = default_style().base
        [network] = pick_variant([s for s in installed_styles() if s.base == base], auto_variant(args.device))
        engine = make_engine(args, [str(network.path)])
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "demo-input.mp4", width=640, height=360, fps=25, frames=75)
        result = stylize_video(clip, args.output, engine, stabilizer=Stabilizer(),
                               progress=_show_progress(args))
    print(f"wrote {args.output}: {result.frames} frames of a synthetic scene in {engine.style} "
          f"at {result.fps:.1f} fps on {engine.provider}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The web studio: the page and the API from one process (FastAPI on uvicorn)."""
    try:
        from rtstyle.serve.app import serve
        from rtstyle.serve.settings import LOOPBACK, ServeSettings
    except ModuleNotFoundError as exc:
        raise RtstyleError(f"rtstyle serve needs the studio's extras ({exc.name} is missing): "
                           "pip install 'rtstyle[serve]'") from exc
    token = args.token or os.environ.get("RTSTYLE_TOKEN") or None
    if args.host not in LOOPBACK and not token:
        raise InputError(f"--host {args.host} lets other machines in: give --token TOKEN (or set RTSTYLE_TOKEN) "
                         "so that every API call must carry it")
    options = {k: getattr(args, k) for k in ("upload_bytes", "image_pixels", "video_seconds", "jobs", "queue",
                                             "retention_hours", "threads", "vgg_weights") if getattr(args, k)}
    if args.data_dir:
        options["data_dir"] = args.data_dir
    settings = ServeSettings(device=args.device, token=token, **options)
    return serve(settings, host=args.host, port=args.port, open_browser=args.open)


def _torch_command(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from rtstyle.training import run_command

        return run_command(name, args.rest)
    return run


def _torch_commands() -> dict[str, str]:
    """The commands whose arguments the torch side parses (every word after the name), with their help."""
    from rtstyle.training import COMMANDS

    return {name: text for name, (_, text) in COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtstyle", description="Real-time neural style transfer.")
    parser.add_argument("--version", action="version", version=f"rtstyle {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("video", help="stylize a video file (audio kept)")
    p.add_argument("input")
    p.add_argument("output", help="output video (.mp4, .mov or .mkv)")
    _video_options(p)
    p.set_defaults(run=cmd_video)

    from rtstyle.batch.command import add_batch_options

    p = sub.add_parser("batch", help="stylize many or long videos, here or on a Ray cluster",
                       description="Stylize video files and folders of videos into --out, as `rtstyle video` does; "
                                   "with --cluster, cut into chunks painted in parallel by Ray workers.")
    add_batch_options(p)
    _video_options(p)
    p.set_defaults(run=cmd_batch)

    p = sub.add_parser("image", help="stylize an image, or every image in a folder")
    p.add_argument("input")
    p.add_argument("output")
    engine_options(p)
    _color_option(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_image)

    p = sub.add_parser("styles", help="list the installed styles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_styles)

    p = sub.add_parser("demo", help="stylize a built-in synthetic clip (no camera, no download)")
    p.add_argument("output", nargs="?", default="rtstyle-demo.mp4")
    engine_options(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("serve", help="the web studio: photos, videos and your paintings in the browser",
                       description="Serve the studio page and its HTTP API (/docs documents it).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", choices=DEVICES, default="auto", help="execution provider (default: auto)")
    p.add_argument("--data-dir", type=Path, help="jobs and their files (default: ~/.local/share/rtstyle/studio)")
    p.add_argument("--token", help="required of every API call (default: $RTSTYLE_TOKEN); needed off 127.0.0.1")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for inference (0: all cores)")
    p.add_argument("--upload-bytes", type=int, metavar="N", help="largest upload (default 500 MiB)")
    p.add_argument("--image-pixels", type=int, metavar="N", help="largest photo in pixels (default 40 million)")
    p.add_argument("--video-seconds", type=float, metavar="S", help="longest video (default 600)")
    p.add_argument("--jobs", type=int, metavar="N", help="jobs that run at once (default 1)")
    p.add_argument("--queue", type=int, metavar="N", help="jobs and photos that may wait (default 16)")
    p.add_argument("--retention-hours", type=float, metavar="H", help="results are deleted after (default 24)")
    p.add_argument("--vgg-weights", type=Path, help="VGG16 state dict for 'your painting' (default: torch's hub "
                   "cache, else $RTSTYLE_VGG16_URL or torchvision's, fetched once)")
    p.set_defaults(run=cmd_serve)

    from rtstyle.webcam import add_parser as add_webcam_parser

    add_webcam_parser(sub)

    for name, text in _torch_commands().items():
        p = sub.add_parser(name, help=text, add_help=False)
        p.set_defaults(run=_torch_command(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse cannot hand a subcommand arguments that look like options (--style, -h) untouched,
    # so they are split off here. The options before the command name are flags without values,
    # so the command is the first word that is not an option.
    command = next((i for i, token in enumerate(argv) if not token.startswith("-")), None)
    if command is not None and argv[command] in _torch_commands():
        args = build_parser().parse_args(argv[:command + 1])
        args.rest = argv[command + 1:]
    else:
        args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    return reporting_errors(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
