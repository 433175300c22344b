#!/usr/bin/env python3
"""Write the pinned third-party browser libraries into ``static/vendor/``.

The front end has no build step at run time, so the few libraries it needs are fetched once here,
from npm, checked against the integrity hashes pinned below, and committed. Usage::

    python scripts/vendor.py           # fetch, verify, (re)write static/vendor/ and VERSIONS.json
    python scripts/vendor.py --check   # offline: committed files match VERSIONS.json and the pins

Everything npm touches lives in a temporary directory outside the repository. Copied files come
from ``npm pack`` tarballs whose sha512 is compared with the pin before extraction. ``yjs.mjs`` is
one esbuild bundle of Yjs, y-protocols and lib0, so the browser and Node share one Yjs instance;
npm installs those from exact versions and every package in the resulting lockfile must match a
pin (esbuild's per-platform binary is the one exception: it is checked by npm against the
registry, and it only builds the bundle).

Upgrading: change the version in ``PINS``, take the new hash from
``npm view NAME@VERSION dist.integrity``, run the script, review the diff, commit.
Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
VERSIONS = VENDOR / "VERSIONS.json"
LICENSES = "THIRD_PARTY_LICENSES.txt"
KEEP = {"README.md", "VERSIONS.json"}


@dataclass(frozen=True)
class Pin:
    version: str
    integrity: str  # npm's Subresource-Integrity string for the package tarball


PINS: dict[str, Pin] = {
    "socket.io-client": Pin(
        "4.8.4",
        "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA==",
    ),
    "hls.js": Pin(
        "1.7.4",
        "sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/Tpm+tg==",
    ),
    "axe-core": Pin(
        "4.14.1",
        "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
    ),
    "yjs": Pin(
        "13.6.33",
        "sha512-q/UYvr1gOk4XII+Cu1CW2dINjYqJJFifTzogEaIARznrvX7uOlHsdTEXcnOBMuIsrCGEEKdNxi74kyMLZlKVfw==",
    ),
    "y-protocols": Pin(
        "1.0.7",
        "sha512-YSVsLoXxO67J6eE/nV4AtFtT3QEotZf5sK5BHxFBXso7VDUT3Tx07IfA6hsu5Q5OmBdMkQVmFZ9QOA7fikWvnw==",
    ),
    "lib0": Pin(
        "0.2.120",
        "sha512-/a2eRImR8sZbmMVKe2we1/KukDQkuPyPf8yol6epvCu2PH6hurjcRI3mdGFFAi0uGoRJGyns99JquZgxwW1tQg==",
    ),
    "isomorphic.js": Pin(  # a dependency of lib0, pinned so the bundle cannot drift
        "0.2.5",
        "sha512-PIeMbHqMt4DnUP3MA/Flc0HElYjMXArsw1qwJZcm9sqR8mq3l8NYizFMty0pWwE/tzIGH3EKK5+jes5mAr85yw==",
    ),
    "esbuild": Pin(  # build tool only; nothing of it is shipped
        "0.28.2",
        "sha512-HKVLS8dvII+xoKW9kmqxbRKrnWEXfJJr/FZhhJmiqIB0e053QNYFqOBouTMO/k5sID4MvCiUCvv8b9M4h32wIA==",
    ),
}


@dataclass(frozen=True)
class Copy:
    dest: str
    package: str
    source: str  # path inside the package


COPIES = (
    Copy("socket.io.esm.min.js", "socket.io-client", "dist/socket.io.esm.min.js"),
    # ES module build: `import Hls from '/static/vendor/hls.min.mjs'`.
    Copy("hls.min.mjs", "hls.js", "dist/hls.min.mjs"),
    # UMD build of the same release, for a classic <script> (sets window.Hls).
    Copy("hls.min.js", "hls.js", "dist/hls.min.js"),
    Copy("axe.min.js", "axe-core", "axe.min.js"),
)

BUNDLE_DEST = "yjs.mjs"
BUNDLE_PACKAGES = ("yjs", "y-protocols", "lib0", "isomorphic.js")
BUNDLE_ENTRY = """\
export * as Y from 'yjs'
export * as syncProtocol from 'y-protocols/sync'
export * as awarenessProtocol from 'y-protocols/awareness'
export * as encoding from 'lib0/encoding'
export * as decoding from 'lib0/decoding'
"""
ESBUILD_ARGS = (
    "--bundle",
    "--format=esm",
    "--minify",
    "--platform=browser",  # lib0's browser code paths use globalThis.crypto, present in Node 20
    "--target=es2020",
    "--legal-comments=none",
    "--charset=utf8",
)
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")


class VendorError(Exception):
    """A pin, a download or a committed file does not match what is expected."""


# -- hashing ------------------------------------------------------------------------------------


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- npm ----------------------------------------------------------------------------------------


def npm(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "npm_config_loglevel": "error", "npm_config_update_notifier": "false"}
    done = subprocess.run(
        ["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise VendorError(f"npm {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def pack(name: str, workdir: Path) -> Path:
    """Download NAME's pinned tarball, check its sha512 against the pin, and extract it."""
    pin = PINS[name]
    dest = workdir / "packs"
    dest.mkdir(exist_ok=True)
    out = npm(["pack", f"{name}@{pin.version}", "--json", "--pack-destination", str(dest)], dest)
    tarball = dest / json.loads(out)[0]["filename"]
    actual = sri_sha512(tarball.read_bytes())
    if actual != pin.integrity:
        raise VendorError(f"{name}@{pin.version}: tarball is {actual}, pinned {pin.integrity}")
    root = workdir / "pkg" / name
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="data")
    return root / "package"


def install_bundle_deps(workdir: Path) -> Path:
    """``npm install`` the bundle's inputs and esbuild; every locked package must be pinned."""
    project = workdir / "bundle"
    project.mkdir()
    names = (*BUNDLE_PACKAGES, "esbuild")
    manifest = {"private": True, "dependencies": {n: PINS[n].version for n in names}}
    (project / "package.json").write_text(json.dumps(manifest, indent=2))
    npm(["install", "--ignore-scripts", "--no-audit", "--no-fund", "--save-exact"], project)
    verify_lockfile(json.loads((project / "package-lock.json").read_text()))
    return project


def verify_lockfile(lock: dict) -> None:
    for key, entry in lock["packages"].items():
        if not key:
            continue
        name = key.rsplit("node_modules/", 1)[1]
        if entry.get("optional") and name.startswith("@esbuild/"):
            continue  # esbuild's binary for this platform; verified by npm, not shipped
        pin = PINS.get(name)
        if pin is None:
            raise VendorError(f"unpinned package in the bundle's lockfile: {name}; add it to PINS")
        if (entry.get("version"), entry.get("integrity")) != (pin.version, pin.integrity):
            raise VendorError(
                f"{name}: lockfile has {entry.get('version')} {entry.get('integrity')}, "
                f"pinned {pin.version} {pin.integrity}"
            )


# -- building the files -------------------------------------------------------------------------


def header(text: str) -> bytes:
    return f"/* {text} -- written by scripts/vendor.py, do not edit */\n".encode()


def strip_source_map(data: bytes) -> bytes:
    """Drop the trailing sourceMappingURL: maps are not vendored, and browsers would fetch them."""
    lines = data.rstrip(b"\n").split(b"\n")
    if lines and lines[-1].startswith(b"//# sourceMappingURL="):
        lines.pop()
    return b"\n".join(lines) + b"\n"


def build_copy(copy: Copy, root: Path) -> bytes:
    pin = PINS[copy.package]
    body = strip_source_map((root / copy.source).read_bytes())
    return header(f"{copy.package}@{pin.version} {copy.source}") + body


def build_bundle(project: Path) -> bytes:
    (project / "entry.mjs").write_text(BUNDLE_ENTRY)
    esbuild = project / "node_modules" / "esbuild" / "bin" / "esbuild"
    done = subprocess.run(
        [str(esbuild), "entry.mjs", *ESBUILD_ARGS],
        cwd=project,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise VendorError(f"esbuild failed:\n{done.stderr.decode()}")
    versions = ", ".join(f"{n}@{PINS[n].version}" for n in BUNDLE_PACKAGES)
    exports = "Y, syncProtocol, awarenessProtocol, encoding, decoding"
    text = f"{versions}; exports {exports}; bundled by esbuild@{PINS['esbuild'].version}"
    return header(text) + done.stdout


def find_license(root: Path) -> str:
    for name in LICENSE_NAMES:
        if (root / name).is_file():
            return (root / name).read_text(encoding="utf-8")
    raise VendorError(f"no licence file in {root}")


def licenses_text(roots: dict[str, Path]) -> bytes:
    parts = []
    for name in sorted(roots):
        rule = "=" * 78
        parts.append(f"{rule}\n{name}@{PINS[name].version}\n{rule}\n\n{find_license(roots[name])}")
    return "\n".join(p.rstrip("\n") + "\n" for p in parts).encode()


@dataclass(frozen=True)
class Output:
    data: bytes
    packages: tuple[str, ...]
    source: str


def build_all(workdir: Path) -> dict[str, Output]:
    roots = {name: pack(name, workdir) for name in sorted({c.package for c in COPIES})}
    outputs = {
        c.dest: Output(build_copy(c, roots[c.package]), (c.package,), c.source) for c in COPIES
    }
    project = install_bundle_deps(workdir)
    bundle_source = f"esbuild@{PINS['esbuild'].version} bundle"
    outputs[BUNDLE_DEST] = Output(build_bundle(project), BUNDLE_PACKAGES, bundle_source)
    roots.update({n: project / "node_modules" / n for n in BUNDLE_PACKAGES})
    outputs[LICENSES] = Output(licenses_text(roots), tuple(sorted(roots)), "licence files")
    return outputs


# -- VERSIONS.json ------------------------------------------------------------------------------


def manifest(outputs: dict[str, Output]) -> dict:
    used = sorted({p for out in outputs.values() for p in out.packages} | {"esbuild"})
    return {
        "generator": "scripts/vendor.py",
        "packages": {n: {"version": PINS[n].version, "integrity": PINS[n].integrity} for n in used},
        "files": {
            dest: {
                "sha256": sha256(out.data),
                "bytes": len(out.data),
                "packages": list(out.packages),
                "source": out.source,
            }
            for dest, out in sorted(outputs.items())
        },
    }


def dump(obj: dict) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write(outputs: dict[str, Output]) -> None:
    VENDOR.mkdir(parents=True, exist_ok=True)
    for stale in VENDOR.iterdir():
        if stale.is_file() and stale.name not in KEEP and stale.name not in outputs:
            stale.unlink()
    for dest, out in outputs.items():
        (VENDOR / dest).write_bytes(out.data)
    VERSIONS.write_bytes(dump(manifest(outputs)))


# -- --check ------------------------------------------------------------------------------------


def check() -> list[str]:
    """Problems with the committed files, without network; an empty list means all is well."""
    if not VERSIONS.is_file():
        return [f"{VERSIONS.relative_to(ROOT)} is missing; run scripts/vendor.py"]
    recorded = json.loads(VERSIONS.read_text(encoding="utf-8"))
    problems = [
        f"VERSIONS.json pins {name} {entry}, the script pins {PINS.get(name)}"
        for name, entry in recorded["packages"].items()
        if PINS.get(name) != Pin(entry["version"], entry["integrity"])
    ]
    expected = {c.dest for c in COPIES} | {BUNDLE_DEST, LICENSES}
    if set(recorded["files"]) != expected:
        problems.append(
            f"VERSIONS.json lists {sorted(recorded['files'])}, expected {sorted(expected)}"
        )
    for dest, entry in recorded["files"].items():
        path = VENDOR / dest
        if not path.is_file():
            problems.append(f"{dest} is missing")
        elif sha256(path.read_bytes()) != entry["sha256"]:
            problems.append(f"{dest} does not match its sha256 in VERSIONS.json")
    extra = {p.name for p in VENDOR.iterdir() if p.is_file()} - set(recorded["files"]) - KEEP
    problems += [f"{name} is in static/vendor/ but not in VERSIONS.json" for name in sorted(extra)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="verify committed files offline, write nothing"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(f"vendor: {problem}", file=sys.stderr)
        print("vendor: OK" if not problems else "vendor: FAILED", file=sys.stderr)
        return 1 if problems else 0
    if shutil.which("npm") is None:
        print("vendor: npm is needed to fetch the libraries", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="traffpunkt-vendor-") as tmp:
            outputs = build_all(Path(tmp))
    except VendorError as error:
        print(f"vendor: {error}", file=sys.stderr)
        return 1
    write(outputs)
    for dest, out in sorted(outputs.items()):
        print(f"vendor: wrote static/vendor/{dest} ({len(out.data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
