"""Where each programme item's film is cut: at the chapter marks of the stage's programme."""

from __future__ import annotations

from server.recording.models import ChapterMark
from server.recording.publication import ItemSpan, item_spans


def mark(at: float, item: int | None, title: str = "") -> ChapterMark:
    return ChapterMark(offset_seconds=at, item_id=item, title=title or f"Punkt {item}",
                       source="programme" if item else "moderator")


def test_each_item_runs_to_the_next_items_mark_or_the_end() -> None:
    marks = [mark(0, 1), mark(600, 2), mark(1500, 3)]
    assert item_spans(marks, 2400.0) == [
        ItemSpan(1, "Punkt 1", 0, 600), ItemSpan(2, "Punkt 2", 600, 1500),
        ItemSpan(3, "Punkt 3", 1500, 2400.0)]


def test_a_moderators_mark_stays_inside_the_item() -> None:
    marks = [mark(0, 1), mark(300, None, "Frågor från salen"), mark(600, 2)]
    assert [(s.item_id, s.start, s.end) for s in item_spans(marks, 900.0)] == [
        (1, 0, 600), (2, 600, 900.0)]


def test_an_item_the_stage_went_back_to_is_cut_at_its_first_span() -> None:
    marks = [mark(0, 1), mark(600, 2), mark(900, 1), mark(1000, 3)]
    assert [(s.item_id, s.start, s.end) for s in item_spans(marks, None)] == [
        (1, 0, 600), (2, 600, 900), (3, 1000, None)]


def test_marks_out_of_order_are_sorted_and_no_items_means_no_films() -> None:
    assert [s.item_id for s in item_spans([mark(50, 2), mark(10, 1)], 90.0)] == [1, 2]
    assert item_spans([mark(5, None, "Paus")], 90.0) == []
