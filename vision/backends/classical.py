"""The out-of-the-box backend: background subtraction, blob extraction and size classes.

MOG2 marks moving pixels and, separately, pixels that look like the background in shadow;
only the former are kept, so cast shadows do not grow the blobs. At night, pixels that are
only a brighter copy of the road (headlight beams) are dropped the same way. Blobs are then
classed by their footprint on the road, measured through the homography.

Known limit: motorcycles riding side by side in a dense group merge into one blob, which is
then counted as one vehicle (usually a car); use the YOLO backend where that matters.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from vision.backends import FrameResult
from vision.camera import CameraConfig
from vision.geometry import bottom_centre, contains, to_road
from vision.tracking import Detection

logger = logging.getLogger(__name__)

SHADOW_VALUE = 127  # what MOG2 writes for a shadow pixel; moving pixels get 255
DARK_SCENE_LUMA = 70.0  # mean grey level below which the scene is treated as night
MIN_FILL_RATIO = 0.3  # share of its bounding box a vehicle blob fills at least
LAMP_GREY = 245  # a saturated lamp pixel
LAMP_DROP_FRACTION = 0.12  # how far below its lamps a vehicle ends, as a share of its box
MARKING_CONTRAST = 35.0  # grey levels a road marking stands above the asphalt at night
MAX_ELONGATION = 4.0  # a blob longer than this many times its width is a streak
STACK_GAP_FRACTION = 0.15  # vertical gap, as a share of box height, that still joins two blobs


class ClassicalBackend:
    """Finds moving vehicles with OpenCV alone; no weights, no torch."""

    name = "classical"

    def __init__(self, camera: CameraConfig, fps: float = 25.0) -> None:
        self.camera = camera
        self.fps = fps
        self.settings = camera.detector
        width, height = camera.frame_size_wh
        # Kernels scale with the frame so that 640x480 and 1280x720 behave alike.
        unit = max(1, round(min(width, height) / 240))
        self._open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (unit + 1, unit + 1))
        self._close_kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (4 * unit + 1, 4 * unit + 1)
        )
        self._subtractor = self._new_subtractor()
        self._frames_since_reset = 0
        self._reference: npt.NDArray[np.float32] | None = None
        self._lanes = [lane.polygon for lane in camera.lanes]
        self.shift_xy = (0.0, 0.0)
        self.is_night = False

    def _new_subtractor(self) -> cv2.BackgroundSubtractorMOG2:
        subtractor = cv2.createBackgroundSubtractorMOG2(
            history=max(10, round(self.settings.history_s * self.fps)),
            varThreshold=self.settings.var_threshold,
            detectShadows=True,
        )
        return subtractor

    def process(self, frame_bgr: npt.NDArray[np.uint8]) -> FrameResult:
        frame_bgr = self._stabilised(frame_bgr)
        raw = self._subtractor.apply(frame_bgr)
        self._frames_since_reset += 1
        moving = np.where(raw > SHADOW_VALUE, 255, 0).astype(np.uint8)

        # A hard cut or a camera bump turns most of the frame into "motion": start over.
        if self._frames_since_reset > 5 and cv2.countNonZero(moving) > (
            self.settings.scene_cut_fraction * moving.size
        ):
            logger.info(
                "scene cut: %.0f%% of the frame changed; background relearnt",
                100.0 * cv2.countNonZero(moving) / moving.size,
            )
            self._subtractor = self._new_subtractor()
            self._subtractor.apply(frame_bgr, learningRate=1.0)
            self._frames_since_reset = 0
            self._reference = None
            self.shift_xy = (0.0, 0.0)
            return FrameResult(foreground=np.zeros_like(moving), scene_cut=True)
        if self._frames_since_reset <= 3:
            # The model has not seen enough frames to tell vehicles from road yet.
            return FrameResult(foreground=np.zeros_like(moving))

        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        self._grey = grey
        self.is_night = float(grey.mean()) < DARK_SCENE_LUMA
        if self.is_night:
            moving = self._drop_glare(frame_bgr, grey, moving)

        mask = cv2.morphologyEx(moving, cv2.MORPH_OPEN, self._open_kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close_kernel)
        detections = self._blobs(mask)
        if self.shift_xy != (0.0, 0.0):
            # Report in the camera's own pixels, where the lanes and lines were drawn.
            mask = self._shift(mask, self.shift_xy)
        return FrameResult(detections=detections, foreground=mask)

    def _stabilised(self, frame_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Undoes slow camera drift by aligning each frame with the first one after a reset.

        The shift is found by phase correlation on a quarter-size grey image, which the
        static background dominates; moving vehicles barely bias it.
        """
        height, width = frame_bgr.shape[:2]
        small = cv2.resize(
            cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY),
            (width // 4, height // 4),
            interpolation=cv2.INTER_AREA,
        ).astype(np.float32)
        if self._reference is None:
            self._reference = small
            self._window = cv2.createHanningWindow(small.shape[::-1], cv2.CV_32F)
            return frame_bgr
        (dx, dy), response = cv2.phaseCorrelate(self._reference, small, self._window)
        if response < 0.05 or abs(dx) > small.shape[1] / 8 or abs(dy) > small.shape[0] / 8:
            return frame_bgr  # no reliable match: leave the frame alone
        self.shift_xy = (4.0 * dx, 4.0 * dy) if abs(dx) + abs(dy) >= 0.25 else (0.0, 0.0)
        if self.shift_xy == (0.0, 0.0):
            return frame_bgr
        return self._shift(frame_bgr, (-self.shift_xy[0], -self.shift_xy[1]))

    @staticmethod
    def _shift(
        image: npt.NDArray[np.uint8], shift_xy: tuple[float, float]
    ) -> npt.NDArray[np.uint8]:
        matrix = np.float32([[1, 0, shift_xy[0]], [0, 1, shift_xy[1]]])
        return cv2.warpAffine(
            image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE
        )

    def _drop_glare(
        self,
        frame_bgr: npt.NDArray[np.uint8],
        grey: npt.NDArray[np.uint8],
        moving: npt.NDArray[np.uint8],
    ) -> npt.NDArray[np.uint8]:
        """Removes what headlight beams light up: smooth asphalt and the road markings.

        Beamed asphalt is the background made brighter without texture. Markings (bright in
        the background model itself) light up as streaks that would join a vehicle's blob
        and drag its bottom edge ahead of the vehicle, so they are cut out; a vehicle over a
        marking loses a thin strip, which the closing step fills again.
        """
        background = cv2.cvtColor(self._subtractor.getBackgroundImage(), cv2.COLOR_BGR2GRAY)
        edges = cv2.Canny(grey, 60, 160)
        edges = cv2.dilate(edges, self._close_kernel)
        brighter = cv2.compare(grey, background, cv2.CMP_GT)
        smooth_glare = cv2.bitwise_and(brighter, cv2.bitwise_not(edges))
        asphalt = float(np.median(background))
        markings = cv2.threshold(
            background, asphalt + MARKING_CONTRAST, 255, cv2.THRESH_BINARY
        )[1]
        markings = cv2.dilate(markings, self._open_kernel, iterations=2)
        removed = cv2.bitwise_or(smooth_glare, markings)
        return cv2.bitwise_and(moving, cv2.bitwise_not(removed))

    def _lamp_bottom(self, box: list[float]) -> list[float]:
        """At night, ends a blob just below its lamps: beams reach far ahead of a vehicle.

        Headlights and tail lights sit less than a metre above the road, so the vehicle's
        bottom edge is a little below the lowest saturated lamp pixel.
        """
        x1, y1, x2, y2 = (int(v) for v in box)
        patch = self._grey[y1:y2, x1:x2]
        rows = np.nonzero((patch >= LAMP_GREY).sum(axis=1) >= 2)[0]
        if rows.size == 0:
            return box
        lamp_y = y1 + int(rows.max())
        return [box[0], box[1], box[2], min(box[3], lamp_y + LAMP_DROP_FRACTION * (y2 - y1))]

    def _blobs(self, mask: npt.NDArray[np.uint8]) -> list[Detection]:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[list[float]] = []
        for contour in contours:
            area = cv2.contourArea(contour)
            if area < self.settings.min_area_px:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            # Thin or diagonal streaks are lit lane markings or beams, not vehicles.
            if area < MIN_FILL_RATIO * w * h:
                continue
            side_a, side_b = cv2.minAreaRect(contour)[1]
            if max(side_a, side_b) > MAX_ELONGATION * max(1.0, min(side_a, side_b)):
                continue
            boxes.append([float(x), float(y), float(x + w), float(y + h)])
        detections: list[Detection] = []
        dx, dy = self.shift_xy
        boxes = _merge_stacked(boxes)
        if self.is_night:
            boxes = [self._lamp_bottom(box) for box in _merge_abreast(boxes)]
        for x1, y1, x2, y2 in boxes:
            box = (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
            if self._lanes and not any(
                contains(lane, bottom_centre(box)) for lane in self._lanes
            ):
                continue  # trees, guard rails and the median: not on a lane
            detections.append(Detection(box, self.classify(box), 1.0))
        return detections

    def classify(self, xyxy: tuple[float, float, float, float]) -> str:
        """Classes a box by its size in metres, measured at the scale of its bottom edge.

        The width is the bottom edge on the road. The extent is the box height in the same
        metres per pixel: it grows with a vehicle's height and length, which is what sets
        buses and trucks apart from cars when seen from above.
        """
        x1, y1, x2, y2 = xyxy
        try:
            left = to_road(self.camera.homography, (x1, y2))
            right = to_road(self.camera.homography, (x2, y2))
        except ValueError:
            return "car"
        width_m = float(np.hypot(right[0] - left[0], right[1] - left[1]))
        extent_m = width_m * (y2 - y1) / max(1.0, x2 - x1)
        if width_m < self.settings.motorcycle_max_width_m:
            return "motorcycle"
        if extent_m >= self.settings.bus_min_extent_m:
            return "bus"
        if extent_m >= self.settings.heavy_min_extent_m:
            return "truck"
        return "car"


def _merge_abreast(boxes: list[list[float]]) -> list[list[float]]:
    """At night, joins blobs side by side at the same height: the two headlights of one vehicle.

    Known limit: two motorcycles riding abreast at night are joined into one vehicle.
    """

    def abreast(a: list[float], b: list[float]) -> bool:
        overlap_y = min(a[3], b[3]) - max(a[1], b[1])
        gap_x = max(a[0], b[0]) - min(a[2], b[2])
        low = min(a[3] - a[1], b[3] - b[1])
        narrow = min(a[2] - a[0], b[2] - b[0])
        return overlap_y >= 0.5 * low and gap_x <= 0.3 * narrow

    return _merge_pairs(boxes, abreast)


def _merge_stacked(boxes: list[list[float]]) -> list[list[float]]:
    """Joins blobs stacked one above the other with a small gap: parts of one vehicle.

    At night a truck shows as its lit cab and its box; by day a windscreen can split a car.
    Blobs side by side (two motorcycles abreast) are left apart.
    """

    def stacked(a: list[float], b: list[float]) -> bool:
        overlap_x = min(a[2], b[2]) - max(a[0], b[0])
        gap_y = max(a[1], b[1]) - min(a[3], b[3])
        narrow = min(a[2] - a[0], b[2] - b[0])
        tall = max(a[3] - a[1], b[3] - b[1])
        wide = max(a[2] - a[0], b[2] - b[0])
        aligned = overlap_x >= 0.8 * narrow and narrow >= 0.6 * wide
        return aligned and gap_y <= STACK_GAP_FRACTION * tall

    return _merge_pairs(boxes, stacked)


def _merge_pairs(boxes: list[list[float]], together) -> list[list[float]]:
    """Replaces any two boxes that ``together(a, b)`` joins by their union, until none."""
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if together(a, b):
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]),
                                max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes
