"""Run every bench, keep its figures in bench/history.jsonl, flag what got worse.

    .venv/bin/python bench/run_all.py [--runs 3] [--only qa_fanout,notes] [--readme-only]

Each bench runs with no arguments, one after another (never two at once: they share the
machine's cores with their own clients). Its last line (one JSON object) goes into
bench/history.jsonl as one line per bench per run, with the commit, whether the tree had
uncommitted changes, the date and the figures named in BENCHES below. Then each figure is
printed with its goal, the previous runs' value and a flag where it got worse by more than the
run-to-run spread of the previous runs. Finally the README's performance table (between the
`bench:begin` and `bench:end` markers) is written again from the history: for each figure, the
range over the latest runs of the newest commit measured.

The rule (README, "Performance"): before an issue that touches a measured path is resolved,
its benches are run through this script and the history is committed with the change.
Last line: one JSON object (this run's figures and flags).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import operator
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "bench" / "history.jsonl"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
RECENT = 5  # previous runs that set the spread
TABLE_RUNS = 3  # runs of the newest commit that make a README range


@dataclass(frozen=True)
class Figure:
    name: str
    path: str  # dotted path into the bench's JSON line
    unit: str
    lower_is_better: bool
    goal: tuple[str, float] | None = None  # ("<", 250): the figure must be below 250

    def read(self, result: dict[str, Any]) -> float | None:
        value: Any = result
        for part in self.path.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return float(value) if isinstance(value, int | float) else None

    def meets(self, value: float | None) -> bool | None:
        if self.goal is None or value is None:
            return None
        ops: dict[str, Callable[[float, float], bool]] = {
            "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
        return ops[self.goal[0]](value, self.goal[1])

    def goal_text(self) -> str:
        return f"{self.goal[0]} {self.goal[1]:g} {self.unit}".strip() if self.goal else ""


def lower(name: str, path: str, unit: str, goal: tuple[str, float] | None = None) -> Figure:
    return Figure(name, path, unit, True, goal)


def higher(name: str, path: str, unit: str, goal: tuple[str, float] | None = None) -> Figure:
    return Figure(name, path, unit, False, goal)


BENCHES: dict[str, list[Figure]] = {
    "qa_fanout": [
        lower("Q&A delivery p99, 1,000 clients", "traffpunkt.latency_ms_p99", "ms", ("<", 250)),
        higher("Q&A throughput / bare python-socketio", "throughput_ratio", "×", (">=", 0.8)),
        lower("Q&A server CPU per approval", "traffpunkt.server_cpu_ms_per_approval", "ms"),
        lower("Q&A server RSS", "traffpunkt.server_rss_mb", "MB"),
    ],
    "notes": [
        lower("notes served p99, 21 rooms × 20 editors", "served.p99_ms", "ms", ("<", 150)),
        lower("notes served p50", "served.p50_ms", "ms"),
        lower("notes server CPU", "served.server_cpu_percent_of_core", "% of a core"),
    ],
    "polls": [
        lower("poll: everyone sees 1,000 votes counted, p99", "final_results.p99_ms", "ms",
              ("<", 2000)),
        lower("poll: vote acknowledged, p99", "vote_ack.p99_ms", "ms"),
    ],
    "breakout": [
        lower("rooms: every assignment arrives, p99", "assign.p99_ms", "ms", ("<", 2000)),
        lower("rooms: everyone back, p99", "close.p99_ms", "ms", ("<", 2000)),
    ],
    "hostile": [
        lower("Q&A p99 under a form flood / without", "p99_ratio", "×", ("<=", 1.5)),
        lower("server RSS after the flood", "server_rss_mb.after", "MB"),
    ],
    "recording": [
        lower("recording overhead on a watched stage", "recording_overhead_ratio", "×",
              ("<=", 0.15)),
        lower("publishing time / recording length", "publish.ratio_of_duration", "×",
              ("<", 0.10)),
    ],
    "room_media": [
        higher("room media: per-viewer encode / forward, per stream", "room_media.ratio", "×",
               (">=", 30)),
        lower("room media: forward once / the queued path, per stream",
              "room_media.forward_to_queued", "×", ("<=", 0.3)),
        lower("room media: forwarding CPU per added stream",
              "room_media.forward_cpu_pct_per_stream", "% of a core"),
    ],
    "room_event": [
        higher("21 rooms x 10, last-N 4: frames on time", "room_event.frames_on_time", "",
               (">=", 0.95)),
        lower("21 rooms x 10, last-N 4: cores the media needs", "room_event.event_cores_needed",
              "cores", ("<=", 2)),
        lower("21 rooms x 10: last-N 4 / everyone's video, cores",
              "room_event.cores_last_n_to_all_video", "×"),
    ],
    "renditions": [
        lower("stage ladder encode (720p + 360p) at 30 fps", "core_share_ladder_max",
              "% of a core", ("<=", 25)),
    ],
    "webcast_fanout": [
        higher("webcast viewers: encode once / MediaRelay", "ratio", "×", (">=", 25)),
        higher("webcast viewers per media process", "encode_once_max_viewers", "viewers"),
        lower("webcast media CPU per added viewer", "media_cpu_pct_per_viewer_encode_once",
              "% of a core"),
        higher("webcast: new viewers sent to HLS from", "encode_once_refuses_from", "viewers"),
        higher("webcast viewers per media node (all processes)", "node_max_viewers", "viewers"),
        higher("webcast capacity, one process (no admission)", "one_process_capacity",
               "viewers"),
        higher("webcast capacity, node of 2 processes (no admission)", "node_capacity",
               "viewers"),
        higher("webcast capacity: node of 2 processes / one process", "process_scaling", "×",
               (">=", 1.8)),
        lower("webcast glass-to-glass p50", "webrtc_glass_to_glass_ms_p50", "ms", ("<", 300)),
        lower("HLS player latency", "hls_player_latency_s", "s", ("<=", 8)),
    ],
}


# --------------------------------------------------------------------------- history


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()


def load_history() -> list[dict[str, Any]]:
    if not HISTORY.exists():
        return []
    return [json.loads(line) for line in HISTORY.read_text().splitlines() if line.strip()]


def run_bench(name: str) -> tuple[dict[str, Any] | None, float, str]:
    """The bench's last JSON line, its wall time and the tail of what it printed."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py")], cwd=ROOT,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.monotonic() - started
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line), seconds, ""
            except json.JSONDecodeError:
                break
    return None, seconds, (proc.stdout + proc.stderr)[-3000:]


def record(name: str, result: dict[str, Any], seconds: float, run_id: str) -> dict[str, Any]:
    figures = {f.name: f.read(result) for f in BENCHES[name]}
    return {
        "bench": name, "run": run_id, "commit": git("rev-parse", "--short", "HEAD"),
        # Uncommitted changes to what is measured (the history and the README it writes aside).
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                          ":!bench/history.jsonl", ":!README.md")),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1), "cores": os.cpu_count(), "figures": figures,
        "goals_met": {f.name: f.meets(figures[f.name]) for f in BENCHES[name] if f.goal},
        "result": result,
    }


def compare(entry: dict[str, Any], earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each figure against the previous runs of the same bench: value, previous, spread, flag."""
    previous = [e for e in earlier if e["bench"] == entry["bench"]][-RECENT:]
    rows = []
    for figure in BENCHES[entry["bench"]]:
        value = entry["figures"].get(figure.name)
        past = [v for e in previous if (v := e["figures"].get(figure.name)) is not None]
        row: dict[str, Any] = {"figure": figure.name, "value": value, "unit": figure.unit,
                               "goal": figure.goal_text(), "meets": figure.meets(value),
                               "previous": past[-1] if past else None, "worse": False}
        if value is not None and past:
            typical = statistics.median(past)
            # The spread of earlier runs, and never less than a tenth of their median: two or
            # three runs that happen to agree say little about this machine's noise.
            spread = max(max(past) - min(past), abs(typical) * 0.1)
            change = value - typical if figure.lower_is_better else typical - value
            row.update(typical=round(typical, 3), spread=round(spread, 3),
                       worse=change > spread)
        rows.append(row)
    return rows


def show(name: str, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        goal = f" goal {r['goal']}" if r["goal"] else ""
        met = {True: " met", False: " NOT MET", None: ""}[r["meets"]]
        before = (f"; before {r['previous']:g} (median {r['typical']:g} ± {r['spread']:g})"
                  if r["previous"] is not None and "typical" in r else "")
        flag = "  <-- WORSE than the spread of earlier runs" if r["worse"] else ""
        value = "—" if r["value"] is None else f"{r['value']:g}"
        print(f"  {r['figure']}: {value} {r['unit']}{goal}{met}{before}{flag}", flush=True)


# --------------------------------------------------------------------------- README table


def _range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    fmt = ((lambda v: f"{v:.2g}") if hi < 0.1 else (lambda v: f"{v:.2f}") if hi < 10
           else (lambda v: f"{v:.0f}"))
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def readme_table(history: list[dict[str, Any]]) -> str:
    lines = ["| bench | figure | goal | latest runs | runs | commit, date |",
             "|---|---|---|---|---|---|"]
    for name, figures in BENCHES.items():
        runs = [e for e in history if e["bench"] == name]
        if not runs:
            lines.append(f"| `{name}.py` | not run yet | | | | |")
            continue
        newest = runs[-1]["commit"]
        latest = [e for e in runs if e["commit"] == newest][-TABLE_RUNS:]
        for f in figures:
            values = [v for e in latest if (v := e["figures"].get(f.name)) is not None]
            if not values:
                continue
            met = [f.meets(v) for v in values]
            mark = "" if f.goal is None else (" ✓" if all(met) else " ✗")
            lines.append(f"| `{name}.py` | {f.name} | {f.goal_text()} | "
                         f"{_range(values)} {f.unit}{mark} | {len(values)} | "
                         f"{newest}, {latest[-1]['date'][:10]} |")
    return "\n".join(lines)


def write_readme(history: list[dict[str, Any]]) -> None:
    text = README.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {BEGIN} … {END} block")
    block = f"{BEGIN}\n{readme_table(history)}\n{END}"
    README.write_text(pattern.sub(lambda _: block, text))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="passes over the benches")
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--readme-only", action="store_true",
                        help="only write the README table from the history")
    args = parser.parse_args()
    if args.readme_only:
        write_readme(load_history())
        return
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        raise SystemExit(f"unknown bench: {', '.join(sorted(unknown))}")
    summary: dict[str, Any] = {"runs": []}
    for n in range(args.runs):
        run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        for name in names:
            print(f"[{n + 1}/{args.runs}] {name} …", flush=True)
            result, seconds, tail = run_bench(name)
            if result is None:
                print(f"  {name} printed no JSON line ({seconds:.0f} s):\n{tail}", flush=True)
                summary["runs"].append({"bench": name, "run": run_id, "failed": True})
                continue
            history = load_history()
            entry = record(name, result, seconds, run_id)
            rows = compare(entry, history)
            with HISTORY.open("a") as out:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            print(f"  {seconds:.0f} s", flush=True)
            show(name, rows)
            summary["runs"].append({"bench": name, "run": run_id, "figures": entry["figures"],
                                    "worse": [r["figure"] for r in rows if r["worse"]],
                                    "not_met": [r["figure"] for r in rows
                                                if r["meets"] is False]})
    write_readme(load_history())
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
