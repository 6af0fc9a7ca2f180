"""Camera counting: per-lane vehicle counts, occupancy and queues from video.

The package turns a camera stream into the figures a loop detector would give the optimizer:
vehicles by class crossing count lines, stop-line occupancy and standing queue length in
metres, per reporting interval. Only counts and anonymous tracks leave it; frames are kept
only when an annotated video is asked for.

Heavy parts (OpenCV, SUMO, Ultralytics) are imported by the modules that need them, so that
``import vision`` stays cheap.
"""

from vision.errors import CameraConfigError, VisionError

__all__ = ["CameraConfigError", "VisionError"]
