"""``nhip count`` and ``nhip camera draw``: counting from video and checking a camera set-up."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

# Beyond these a value is a typo: no camera delivers 1,000 frames per second, and a
# billion frames is over a year of 25 fps video.
MAX_FPS = 1000.0
MAX_FRAMES = 1_000_000_000


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of frames per second, "
                                         f"got {text!r}") from None
    # 'not low < value <= high' also refuses NaN, which compares false with everything.
    if not 0 < value <= MAX_FPS:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_FPS:g}, "
                                         f"got {text}")
    return value


def _whole(low: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of {what}, "
                                             f"got {text!r}") from None
        if not low <= value <= MAX_FRAMES:
            raise argparse.ArgumentTypeError(f"must be between {low} and {MAX_FRAMES}, "
                                             f"got {text}")
        return value

    return parse


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    count = subparsers.add_parser(
        "count",
        help="count vehicles per lane from a video file or stream",
        description="Counts vehicles crossing the camera's count lines, per lane and class, "
        "with stop-line occupancy and queue length, and writes DIR/counts.json. No frame is "
        "stored unless --annotate is given.",
    )
    count.add_argument("video", help="video file, or rtsp:// / http:// stream URL")
    count.add_argument("--camera", required=True, type=Path, help="camera YAML file")
    count.add_argument("--out", required=True, type=Path, help="output folder")
    count.add_argument(
        "--fps",
        type=_fps,
        default=None,
        help=f"process at most this many frames per second, more than 0 and at most "
        f"{MAX_FPS:g} (default: all)",
    )
    count.add_argument(
        "--backend",
        choices=["auto", "classical", "yolo"],
        default=None,
        help="override the camera's detector backend",
    )
    count.add_argument(
        "--annotate",
        action="store_true",
        help="also write DIR/annotated.mp4 (stores frames: use for set-up only)",
    )
    count.add_argument(
        "--max-frames",
        type=_whole(1, "frames"),
        default=None,
        help="stop after N frames (at least 1)",
    )
    count.add_argument(
        "--optimizer",
        default=None,
        metavar="HOST:PORT",
        help="send each interval to the optimizer's ComputePlan over gRPC",
    )
    count.set_defaults(handler=_count)

    camera = subparsers.add_parser("camera", help="camera set-up tools")
    camera_commands = camera.add_subparsers(
        dest="camera_command", metavar="ACTION", required=True
    )
    draw = camera_commands.add_parser(
        "draw", help="draw lanes, lines and loops over a frame to check the set-up"
    )
    draw.add_argument("video", help="video file, stream URL or still image")
    draw.add_argument("--camera", required=True, type=Path, help="camera YAML file")
    draw.add_argument("--out", required=True, type=Path, help="PNG file to write")
    draw.add_argument(
        "--frame",
        type=_whole(0, "frames"),
        default=0,
        help="frame index to draw on, from 0 (default 0)",
    )
    draw.set_defaults(handler=_draw)


def _count(args: argparse.Namespace) -> int:
    from vision.backends import make_backend
    from vision.camera import load_camera
    from vision.errors import VisionError
    from vision.pipeline import count_video, write_counts

    sender = None
    try:
        camera = load_camera(args.camera)
        callbacks = []
        if args.optimizer:
            from vision.feed import OptimizerFeed

            sender = OptimizerFeed(args.optimizer, camera)
            callbacks.append(sender.deliver)
        backend = None
        if args.backend:
            from vision.video import VideoSource

            fps = VideoSource(args.video).target_fps if args.fps is None else args.fps
            backend = make_backend(camera, args.backend, fps=fps)
        run = count_video(
            camera,
            args.video,
            target_fps=args.fps,
            backend=backend,
            annotate_path=args.out / "annotated.mp4" if args.annotate else None,
            on_interval=callbacks,
            max_frames=args.max_frames,
        )
    except VisionError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        if sender is not None:
            sender.close()
    path = write_counts(run, args.out)
    totals = run.line_totals()
    summary = ", ".join(f"{line}: {sum(c.values())}" for line, c in sorted(totals.items()))
    print(f"wrote {path} ({summary or 'no crossings'})")
    if sender is not None:
        short = f" ({sender.skipped} under 1 s not sent)" if sender.skipped else ""
        print(f"optimizer at {args.optimizer}: {sender.delivered} of "
              f"{sender.delivered + sender.failed} intervals delivered{short}")
    return 0


def _draw(args: argparse.Namespace) -> int:
    import cv2

    from vision.camera import load_camera
    from vision.draw import draw_setup
    from vision.errors import VisionError

    try:
        camera = load_camera(args.camera)
    except VisionError as exc:
        logger.error("%s", exc)
        return 2
    frame = (
        cv2.imread(str(args.video))
        if Path(args.video).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")
        else None
    )
    if frame is None:
        capture = cv2.VideoCapture(str(args.video))
        capture.set(cv2.CAP_PROP_POS_FRAMES, args.frame)
        ok, frame = capture.read()
        capture.release()
        if not ok:
            logger.error("cannot read frame %d of %s", args.frame, args.video)
            return 2
    height, width = frame.shape[:2]
    if (width, height) != camera.frame_size_wh:
        camera = camera.scaled_to((width, height))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), draw_setup(frame, camera)):
        logger.error("cannot write %s", args.out)
        return 2
    print(f"wrote {args.out}")
    return 0
