"""bench/run_all.py: the README's performance table is the history's, and a figure that got
worse beyond the spread of earlier runs is flagged (and one within it is not)."""

from __future__ import annotations

import json

from bench import run_all


def test_the_readme_table_is_generated_from_the_history() -> None:
    history = run_all.load_history()
    assert history, "bench/history.jsonl holds the runs the README reports"
    for entry in history:
        assert entry["bench"] in run_all.BENCHES
        assert entry["commit"] and entry["date"] and isinstance(entry["figures"], dict)
    readme = run_all.README.read_text()
    block = readme.split(run_all.BEGIN, 1)[1].split(run_all.END, 1)[0].strip()
    assert block == run_all.readme_table(history), "run bench/run_all.py --readme-only"


def entry(p99: float, ratio: float, run: str = "r") -> dict[str, object]:
    result = {"traffpunkt": {"latency_ms_p99": p99}, "throughput_ratio": ratio}
    return run_all.record("qa_fanout", json.loads(json.dumps(result)), 60.0, run)


def test_worse_beyond_the_spread_is_flagged() -> None:
    earlier = [entry(180, 0.85), entry(200, 0.90), entry(190, 0.88)]
    steady = {r["figure"]: r for r in run_all.compare(entry(199, 0.86), earlier)}
    p99, ratio = "Q&A delivery p99, 1,000 clients", "Q&A throughput / bare python-socketio"
    assert not steady[p99]["worse"] and not steady[ratio]["worse"]
    assert steady[p99]["previous"] == 190 and steady[p99]["meets"] is True
    slower = {r["figure"]: r for r in run_all.compare(entry(260, 0.70), earlier)}
    assert slower[p99]["worse"] and slower[p99]["meets"] is False
    assert slower[ratio]["worse"], "a lower throughput ratio is worse"
    assert {r["figure"]: r for r in run_all.compare(entry(120, 0.99), earlier)}[p99]["worse"] \
        is False, "better is never flagged"
