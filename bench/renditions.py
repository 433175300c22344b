"""What the second rendition costs the media node (issue 21, point 5).

The stage decodes once and encodes once per rendition. This encodes the same 1280x720 frames
(a moving picture with detail, 30 fps) through the stage's own encoders, first with the one
rendition it had before (the baseline, 720p) and then with the default ladder (720p + 360p),
in one process, one after the other, REPEAT times; it prints milliseconds of CPU per frame for
each and their ratio, and ends with one JSON line.

    .venv/bin/python bench/renditions.py

Goal (ours, not the issue's): the whole ladder takes at most a quarter of one core at 30 fps,
so a media process keeps most of its core for the fan-out. The ratio is printed as well: 360p
is a quarter of the pixels, but it is scaled from the 720p frame first (about 0.4 ms here) and
each encode has a fixed cost, so the second rendition costs more than a quarter of the first.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streaming.config import DEFAULT_LADDER  # noqa: E402
from streaming.encoders import VideoEncoder  # noqa: E402
from streaming.synthetic import make_frame  # noqa: E402

FRAMES = 150
REPEAT = 3
GOAL_CORE_SHARE = 25.0  # % of one core at 30 fps


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
    shares = [ms * 30 / 10 for ms in two]  # ms per frame x 30 frames = ms per s; / 10 = %
    print(f"at 30 fps the ladder takes {min(shares):.1f}-{max(shares):.1f} % of a core (goal "
          f"<= {GOAL_CORE_SHARE:.0f} %), one rendition {min(one) * 3:.1f}-{max(one) * 3:.1f} %; "
          f"ratio {min(ratios):.2f}-{max(ratios):.2f}")
    print(json.dumps({"bench": "renditions", "frames": FRAMES,
                      "ms_per_frame_720p": [round(x, 2) for x in one],
                      "ms_per_frame_ladder": [round(x, 2) for x in two],
                      "ratio": [round(x, 2) for x in ratios],
                      "core_share_ladder": [round(x, 1) for x in shares],
                      "core_share_ladder_max": round(max(shares), 1),
                      "goal_met": max(shares) <= GOAL_CORE_SHARE}))


if __name__ == "__main__":
    main()
