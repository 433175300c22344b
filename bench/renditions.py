"""What the second rendition costs the media node (issue 21, point 5).

The stage decodes once and encodes once per rendition. This encodes the same 1280x720 frames
(a moving picture with detail, 30 fps) through the stage's own encoders, first with the one
rendition it had before (the baseline, 720p) and then with the default ladder (720p + 360p),
in one process, one after the other, REPEAT times; it prints milliseconds of CPU per frame for
each and their ratio, and ends with one JSON line.

    .venv/bin/python bench/renditions.py

Goal (ours, not the issue's): the second rendition adds at most half of the first's cost
(ratio <= 1.5), since 360p is a quarter of the pixels.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streaming.config import DEFAULT_LADDER  # noqa: E402
from streaming.encoders import VideoEncoder  # noqa: E402
from streaming.synthetic import make_frame  # noqa: E402

FRAMES = 150
REPEAT = 3
GOAL = 1.5


def cpu_ms_per_frame(renditions: int) -> float:
    encoders = [VideoEncoder(30, 2.0, r) for r in DEFAULT_LADDER[:renditions]]
    frames = [make_frame(1280, 720, i) for i in range(FRAMES)]
    for encoder in encoders:  # open the encoders outside the measured window
        encoder.encode(frames[0], 0, True)
    started = time.process_time()
    for i, frame in enumerate(frames, start=1):
        for encoder in encoders:
            encoder.encode(frame, i * 3000, False)
    return (time.process_time() - started) * 1000 / FRAMES


def main() -> None:
    one, two = [], []
    for run in range(REPEAT):
        one.append(cpu_ms_per_frame(1))
        two.append(cpu_ms_per_frame(2))
        print(f"run {run + 1}: 720p {one[-1]:.2f} ms/frame, 720p+360p {two[-1]:.2f} ms/frame, "
              f"ratio {two[-1] / one[-1]:.2f}")
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    print(f"ratio {min(ratios):.2f}-{max(ratios):.2f} (goal <= {GOAL}); at 30 fps the ladder "
          f"takes {statistics.median(two) * 30 / 10:.1f} % of a core "
          f"(one rendition {statistics.median(one) * 30 / 10:.1f} %)")
    print(json.dumps({"bench": "renditions", "frames": FRAMES,
                      "ms_per_frame_720p": [round(x, 2) for x in one],
                      "ms_per_frame_ladder": [round(x, 2) for x in two],
                      "ratio": [round(x, 2) for x in ratios],
                      "goal_met": max(ratios) <= GOAL}))


if __name__ == "__main__":
    main()
