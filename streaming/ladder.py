"""Which of the stage's renditions a WebRTC viewer gets, from what their browser reports.

Every viewer starts on the best rendition. Their browser sends RTCP receiver reports (the
fraction of packets lost since the last, about once a second) and REMB (its estimate of the
bitrate it can receive). A viewer moves one rung down when the loss is sustained (two reports
in a row over :data:`LOSS_DOWN`) or the estimate stays under :data:`REMB_SHARE` of the
rendition's bitrate for :data:`REMB_LOW_FOR` seconds. Moving up is a try: once the viewer has
been where they are for the hold time and loss has stayed low for :data:`QUIET_FOR` seconds,
they go one rung up; a try that ends in a move down within :data:`FAILED_TRY_WITHIN` doubles
the hold (8 s, 16 s, ... up to :data:`HOLD_MAX`), so a line that cannot carry the better
rendition is not tried every few seconds. The browser's estimate cannot show more room than
it is given (it grows with what arrives), which is why up is tried rather than waited for;
REMB is not heeded for :data:`REMB_GRACE` seconds after a move, while it settles.

The decision is here; the move itself (at the new rendition's next key frame, without
renegotiation) is :meth:`streaming.hub.StageHub.switch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .config import Rendition

__all__ = ["RenditionChooser"]

LOSS_DOWN = 0.08
"""A receiver report with more loss than this is a bad one; two in a row move down."""
BAD_REPORTS_DOWN = 2
LOSS_QUIET = 0.03
"""Loss under this (a lossy line's background) lets a try up start."""
QUIET_FOR = 4.0
REMB_SHARE = 0.6
REMB_LOW_FOR = 2.0
REMB_GRACE = 10.0
HOLD_FIRST = 8.0
HOLD_MAX = 64.0
FAILED_TRY_WITHIN = 10.0


class RenditionChooser:
    """The rung of one viewer (0 is the best); :meth:`feedback` says when to move."""

    def __init__(
        self, renditions: tuple[Rendition, ...], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._renditions = renditions
        self._clock = clock
        self.index = 0
        self.hold = HOLD_FIRST
        now = clock()
        self._moved_at = now
        self._went_up_at: float | None = None
        self._bad_reports = 0
        self._noisy_at = now  # the last report with loss of LOSS_QUIET or more
        self._remb_low_since: float | None = None

    def feedback(self, loss: float | None, remb: int | None) -> int | None:
        """Take one report (loss fraction or REMB bits per second); the rung to move to now,
        or ``None`` to stay."""
        now = self._clock()
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
            if self._bad_reports >= BAD_REPORTS_DOWN:
                return True
        if remb is not None and now - self._moved_at >= REMB_GRACE:
            if remb >= self._renditions[self.index].bitrate * REMB_SHARE:
                self._remb_low_since = None
            elif self._remb_low_since is None:
                self._remb_low_since = now
            return self._remb_low_since is not None and now - self._remb_low_since >= REMB_LOW_FOR
        return False

    def _move(self, index: int, now: float) -> int:
        self.index = index
        self._moved_at = now
        self._bad_reports = 0
        self._remb_low_since = None
        return index
