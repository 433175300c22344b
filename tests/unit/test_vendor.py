"""The vendored browser libraries match their pins (scripts/vendor.py --check, offline)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vendor.py"


def load_vendor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_committed_files_match_their_pins() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture()
def vendor_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Path]:
    vendor = load_vendor()
    copy = tmp_path / "vendor"
    shutil.copytree(ROOT / "static" / "vendor", copy)
    monkeypatch.setattr(vendor, "VENDOR", copy)
    monkeypatch.setattr(vendor, "VERSIONS", copy / "VERSIONS.json")
    return vendor, copy


def test_check_passes_on_an_exact_copy(vendor_copy: tuple[ModuleType, Path]) -> None:
    vendor, _ = vendor_copy
    assert vendor.check() == []


def test_check_catches_an_edited_file(vendor_copy: tuple[ModuleType, Path]) -> None:
    vendor, copy = vendor_copy
    with (copy / "yjs.mjs").open("ab") as file:
        file.write(b"\n// local edit\n")
    assert vendor.check() == ["yjs.mjs does not match its sha256 in VERSIONS.json"]


def test_check_catches_an_unlisted_file(vendor_copy: tuple[ModuleType, Path]) -> None:
    vendor, copy = vendor_copy
    (copy / "extra.js").write_text("export {}\n")
    assert vendor.check() == ["extra.js is in static/vendor/ but not in VERSIONS.json"]


def test_check_catches_a_pin_out_of_step(
    vendor_copy: tuple[ModuleType, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor, _ = vendor_copy
    monkeypatch.setitem(vendor.PINS, "yjs", vendor.Pin("0.0.0", "sha512-x"))
    assert any("yjs" in problem for problem in vendor.check())
