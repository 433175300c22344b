"""The Grafana dashboard of the day (deploy/grafana/traffpunkt-day.json) against a live
/metrics: for the tests and the rehearsal bench. A query naming a metric the platform does
not export would show an empty panel on the day, when nobody has time to find out why."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "traffpunkt-day.json"
_NAME = re.compile(r"\b((?:traffpunkt|process|python)_[a-z0-9_]+)")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def queries(path: Path = DASHBOARD) -> list[str]:
    board = json.loads(path.read_text(encoding="utf-8"))
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def series(path: Path = DASHBOARD) -> set[str]:
    """The sample names the dashboard's queries read (`..._bucket`, `..._total`, gauges)."""
    return {m for q in queries(path) for m in _NAME.findall(q)}


def exported(metrics_text: str) -> tuple[set[str], set[str]]:
    """(families declared, sample names with at least one sample) in a /metrics text."""
    families, samples = set(), set()
    for family in text_string_to_metric_families(metrics_text):
        families.add(family.name)
        samples.update(s.name for s in family.samples)
    return families, samples


def family_of(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def missing(metrics_text: str, *, with_samples: bool = False, path: Path = DASHBOARD) -> list[str]:
    """The dashboard's series /metrics does not declare (or, `with_samples`, has no sample of:
    a live event has had every kind of traffic)."""
    families, samples = exported(metrics_text)

    def absent(name: str) -> bool:
        if with_samples:
            return name not in samples
        return family_of(name) not in families and name not in families

    return sorted(name for name in series(path) if absent(name))
