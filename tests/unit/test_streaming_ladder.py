"""Which rendition a WebRTC viewer gets from their receiver reports (streaming/ladder.py), on a
clock the test turns: one report a second, as browsers send them."""

from __future__ import annotations

from streaming.config import DEFAULT_LADDER
from streaming.ladder import HOLD_FIRST, HOLD_MAX, RenditionChooser


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reports(chooser: RenditionChooser, clock: Clock, seconds: int, loss: float = 0.0,
            remb: int | None = None) -> list[tuple[float, int]]:
    """A report a second (loss, then REMB if given); the moves it led to, (time, rung)."""
    moves = []
    for _ in range(seconds):
        clock.now += 1
        for move in (chooser.feedback(loss, None),
                     chooser.feedback(None, remb) if remb is not None else None):
            if move is not None:
                moves.append((clock.now - 100, move))
    return moves


def test_a_good_line_stays_on_the_best_rendition() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, clock)
    assert reports(chooser, clock, 120, loss=0.01, remb=5_000_000) == []
    assert chooser.index == 0


def test_sustained_loss_moves_down_and_a_failed_try_up_doubles_the_hold() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, clock)
    assert reports(chooser, clock, 1, loss=0.3) == [], "one bad report is not sustained"
    assert reports(chooser, clock, 1, loss=0.3) == [(2, 1)]
    # 360p fits the line: 2 % loss is its background, and after the hold 720p is tried again.
    assert reports(chooser, clock, 8, loss=0.02) == [(2 + HOLD_FIRST, 0)]
    # The try fails at once: down, and the next try waits twice as long.
    assert reports(chooser, clock, 2, loss=0.3) == [(12, 1)]
    assert chooser.hold == 2 * HOLD_FIRST
    assert reports(chooser, clock, 40, loss=0.02)[:1] == [(12 + 2 * HOLD_FIRST, 0)]
    for _ in range(8):  # every failed try doubles the hold, up to HOLD_MAX
        clock.now += 1
        chooser.feedback(0.3, None)
        clock.now += 1
        chooser.feedback(0.3, None)
        clock.now += chooser.hold
        chooser.feedback(0.0, None)
    assert chooser.hold == HOLD_MAX


def test_the_line_recovers_and_the_viewer_goes_back_up_to_stay() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, clock)
    reports(chooser, clock, 2, loss=0.5)
    assert chooser.index == 1
    assert reports(chooser, clock, 60, loss=0.0) == [(2 + HOLD_FIRST, 0)]
    assert chooser.index == 0 and chooser.hold == HOLD_FIRST


def test_a_low_bandwidth_estimate_moves_down_once_it_has_settled() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, clock)
    # Right after the start REMB ramps up from little: not heeded for 10 s.
    assert reports(chooser, clock, 9, remb=400_000) == []
    # Then 1 Mbit/s estimated for 2 s, under 60 % of 720p's 2.5 Mbit/s: down.
    moves = reports(chooser, clock, 5, remb=1_000_000)
    assert moves == [(12, 1)], moves
    # 1 Mbit/s is plenty for 360p (600 kbit/s): it stays there, REMB does not push it further.
    assert reports(chooser, clock, 5, loss=0.0, remb=1_000_000)[:1] == []


def test_the_lowest_rendition_is_the_floor() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, clock)
    reports(chooser, clock, 10, loss=0.5)
    assert chooser.index == len(DEFAULT_LADDER) - 1
