"""Which rendition a WebRTC viewer gets from their receiver reports (streaming/ladder.py), on a
clock the test turns: one report a second, as browsers send them."""

from __future__ import annotations

import pytest

from streaming.config import DEFAULT_LADDER
from streaming.ladder import HOLD_FIRST, HOLD_MAX, RateMeter, RenditionChooser


def nominal(rendition: int) -> float:
    """As if each rendition sent its configured bitrate (a busy camera picture)."""
    return float(DEFAULT_LADDER[rendition].bitrate)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


SENT: dict[int, list[int]] = {}


def reports(chooser: RenditionChooser, clock: Clock, seconds: int, loss: float = 0.0,
            remb: int | None = None) -> list[tuple[float, int]]:
    """A second at a time: 100 packets, `loss` of them lost, then a receiver report (lost so
    far, highest sequence number) and REMB if given; the moves they led to, (time, rung)."""
    moves = []
    lost, highest = SENT.setdefault(id(chooser), [0, 1000])
    if highest == 1000:
        chooser.feedback((lost, highest), None)  # the browser's first report
    for _ in range(seconds):
        clock.now += 1
        highest += 100
        lost += round(loss * 100)
        SENT[id(chooser)] = [lost, highest]
        for move in (chooser.feedback((lost, highest), None),
                     chooser.feedback(None, remb) if remb is not None else None):
            if move is not None:
                moves.append((clock.now - 100, move))
    return moves


def test_a_good_line_stays_on_the_best_rendition() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, nominal, clock)
    assert reports(chooser, clock, 120, loss=0.01, remb=5_000_000) == []
    assert chooser.index == 0


def test_sustained_loss_moves_down_and_a_failed_try_up_doubles_the_hold() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, nominal, clock)
    assert reports(chooser, clock, 1, loss=0.3) == [], "one bad second is not sustained"
    assert reports(chooser, clock, 1, loss=0.3) == [(2, 1)]
    # 360p fits the line: 2 % loss is its background, and after the hold 720p is tried again.
    assert reports(chooser, clock, 8, loss=0.02) == [(2 + HOLD_FIRST, 0)]
    # The try meets loss: down after one lossy second, and the next try waits twice as long.
    assert reports(chooser, clock, 1, loss=0.3) == [(11, 1)]
    assert chooser.hold == 2 * HOLD_FIRST
    assert reports(chooser, clock, 40, loss=0.02)[:1] == [(11 + 2 * HOLD_FIRST, 0)]
    reports(chooser, clock, 2, loss=0.3)  # long after the try: a new bout of loss, not a failure
    assert (chooser.index, chooser.hold) == (1, HOLD_FIRST)
    for _ in range(4):  # every failed try doubles the hold, up to HOLD_MAX
        assert reports(chooser, clock, int(chooser.hold), loss=0.0)[-1][1] == 0
        assert reports(chooser, clock, 1, loss=0.3)[-1][1] == 1
    assert chooser.hold == HOLD_MAX


def test_the_line_recovers_and_the_viewer_goes_back_up_to_stay() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, nominal, clock)
    reports(chooser, clock, 2, loss=0.5)
    assert chooser.index == 1
    assert reports(chooser, clock, 60, loss=0.0) == [(2 + HOLD_FIRST, 0)]
    assert chooser.index == 0 and chooser.hold == HOLD_FIRST


def test_a_low_bandwidth_estimate_moves_down_once_it_has_settled() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, nominal, clock)
    # Right after the start REMB ramps up from little: not heeded for 10 s.
    assert reports(chooser, clock, 9, remb=400_000) == []
    # Then 1 Mbit/s estimated for 2 s, under 80 % of the 2.5 Mbit/s 720p sends: down.
    moves = reports(chooser, clock, 5, remb=1_000_000)
    assert moves == [(12, 1)], moves
    # 1 Mbit/s is plenty for 360p (600 kbit/s): it stays there, REMB does not push it further.
    assert reports(chooser, clock, 5, loss=0.0, remb=1_000_000)[:1] == []


def test_the_lowest_rendition_is_the_floor() -> None:
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, nominal, clock)
    reports(chooser, clock, 10, loss=0.5)
    assert chooser.index == len(DEFAULT_LADDER) - 1


def test_a_picture_that_needs_little_is_not_moved_for_a_low_estimate() -> None:
    """A slide sends 200 kbit/s on 720p; the browser's estimate follows what arrives (REMB is
    about what it gets, not what the line could carry): it is no reason to move."""
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, lambda rendition: 200_000.0, clock)
    assert reports(chooser, clock, 60, loss=0.0, remb=230_000) == []


def test_the_rate_meter_counts_the_last_two_seconds() -> None:
    clock = Clock()
    meter = RateMeter(clock)
    for _ in range(60):  # 30 frames a second of 1 kB: 240 kbit/s
        clock.now += 1 / 30
        meter.add(1000)
    assert meter.bps() == pytest.approx(240_000, rel=0.03)
    clock.now += 3
    assert meter.bps() == 0


def test_loss_is_counted_over_a_second_however_often_the_browser_reports() -> None:
    """Chromium sends receiver reports many times a second: one report's fraction covers a
    few packets (0 or 50 %). A second with 1 lost packet in 100 is a good second."""
    clock = Clock()
    chooser = RenditionChooser(DEFAULT_LADDER, nominal, clock)
    lost, highest = 0, 5000
    for n in range(200):  # 20 reports a second, a packet lost now and then (1 %)
        clock.now += 0.05
        highest += 5
        lost += n % 20 == 0
        assert chooser.feedback((lost, highest), None) is None
    assert chooser.index == 0
