"""Which of the stage's renditions a WebRTC viewer gets, from what their browser reports.

Every viewer starts on the best rendition. Their browser sends RTCP receiver reports (packets
lost so far and the highest sequence number received, several times a second) and REMB (its
estimate of the bitrate it can receive). Loss is counted over periods of :data:`LOSS_PERIOD`
seconds. A viewer moves one rung down when the loss is sustained (two periods in a row over
:data:`LOSS_DOWN`) or the estimate stays under :data:`REMB_SHARE` of what the
rendition really sends (its measured rate, :class:`RateMeter`: a slide or a still picture is a
fraction of the configured maximum) for :data:`REMB_LOW_FOR` seconds. Moving up is a try: once
the viewer has been where they are for the hold time and loss has stayed low for
:data:`QUIET_FOR` seconds, they go one rung up, and back at the first lossy period; a try that
ends in a move down within
:data:`FAILED_TRY_WITHIN` doubles the hold (8 s, 16 s, ... up to :data:`HOLD_MAX`), so a line
that cannot carry the better rendition is not tried every few seconds. The browser's estimate
cannot show more room than it is given (it grows with what arrives), which is why up is tried
rather than waited for; REMB is not heeded for :data:`REMB_GRACE` seconds after a move, while it
settles.

The decision is here; the move itself (at the new rendition's next key frame, without
renegotiation) is :meth:`streaming.hub.StageHub.switch`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from .config import Rendition

__all__ = ["RateMeter", "RenditionChooser"]

LOSS_PERIOD = 1.0
"""Seconds of receiver reports one loss figure covers."""
LOSS_DOWN = 0.08
"""A period with more loss than this is a bad one; two in a row move down."""
BAD_REPORTS_DOWN = 2
LOSS_QUIET = 0.03
"""Loss under this (a lossy line's background) lets a try up start."""
QUIET_FOR = 4.0
REMB_SHARE = 0.8
REMB_LOW_FOR = 2.0
REMB_GRACE = 10.0
HOLD_FIRST = 8.0
HOLD_MAX = 64.0
FAILED_TRY_WITHIN = 10.0


RATE_WINDOW = 2.0


class RateMeter:
    """Bits per second one rendition has sent over the last :data:`RATE_WINDOW` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: deque[tuple[float, int]] = deque()
        self._bytes = 0

    def add(self, size: int) -> None:
        now = self._clock()
        self._sent.append((now, size))
        self._bytes += size
        self._forget(now)

    def bps(self) -> float:
        self._forget(self._clock())
        return self._bytes * 8 / RATE_WINDOW

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0][0] < now - RATE_WINDOW:
            self._bytes -= self._sent.popleft()[1]


class RenditionChooser:
    """The rung of one viewer (0 is the best); :meth:`feedback` says when to move.
    ``rate_of(i)`` is what rendition ``i`` sends now, in bits per second."""

    def __init__(
        self, renditions: tuple[Rendition, ...], rate_of: Callable[[int], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renditions = renditions
        self._rate_of = rate_of
        self._clock = clock
        self.index = 0
        self.hold = HOLD_FIRST
        now = clock()
        self._moved_at = now
        self._went_up_at: float | None = None
        self._bad_reports = 0
        self._noisy_at = now  # the last report with loss of LOSS_QUIET or more
        self._remb_low_since: float | None = None
        self._period: tuple[float, int, int] | None = None  # (start, lost, highest) of it

    def feedback(self, counts: tuple[int, int] | None, remb: int | None) -> int | None:
        """Take one report (a receiver report's ``(lost so far, highest sequence)``, or REMB
        bits per second); the rung to move to now, or ``None`` to stay."""
        now = self._clock()
        loss = None if counts is None else self._loss(now, *counts)
        if self._should_go_down(now, loss, remb):
            if self.index + 1 >= len(self._renditions):
                return None
            failed_try = self._went_up_at is not None and now - self._went_up_at < FAILED_TRY_WITHIN
            self.hold = min(self.hold * 2, HOLD_MAX) if failed_try else HOLD_FIRST
            self._went_up_at = None
            return self._move(self.index + 1, now)
        if (self.index > 0 and now - self._moved_at >= self.hold
                and now - self._noisy_at >= QUIET_FOR and self._remb_low_since is None):
            self._went_up_at = now
            return self._move(self.index - 1, now)
        return None

    def _should_go_down(self, now: float, loss: float | None, remb: int | None) -> bool:
        if loss is not None:
            self._bad_reports = self._bad_reports + 1 if loss > LOSS_DOWN else 0
            if loss >= LOSS_QUIET:
                self._noisy_at = now
            trying = self._went_up_at is not None and now - self._went_up_at < FAILED_TRY_WITHIN
            # a try up that meets loss is over at once: the picture freezes while it lasts
            if self._bad_reports >= (1 if trying else BAD_REPORTS_DOWN):
                return True
        if remb is not None and now - self._moved_at >= REMB_GRACE:
            if remb >= self._rate_of(self.index) * REMB_SHARE:
                self._remb_low_since = None
            elif self._remb_low_since is None:
                self._remb_low_since = now
            return self._remb_low_since is not None and now - self._remb_low_since >= REMB_LOW_FOR
        return False

    def _loss(self, now: float, lost: int, highest: int) -> float | None:
        """The fraction lost over the period that ends with this report, once it is
        LOSS_PERIOD long; ``None`` before."""
        if self._period is None or highest < self._period[2]:  # first, or a new stream
            self._period = (now, lost, highest)
            return None
        start, lost_before, highest_before = self._period
        if now - start < LOSS_PERIOD:
            return None
        self._period = (now, lost, highest)
        expected = highest - highest_before
        return min(1.0, max(0, lost - lost_before) / expected) if expected > 0 else 0.0

    def _move(self, index: int, now: float) -> int:
        self.index = index
        self._moved_at = now
        self._bad_reports = 0
        self._remb_low_since = None
        return index
