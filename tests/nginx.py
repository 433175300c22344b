"""The production nginx config (deploy/nginx.conf), run by Debian's nginx as an unprivileged
process in front of local app processes: for the tests and the rehearsal bench.

`adapt` changes only what differs on this machine (the listening port, the upstream addresses,
the media volume, where logs, caches and temporary files go); every location stays as
shipped. Each change must find its text, so a change to deploy/nginx.conf that the adaptation
no longer fits fails here instead of testing something else.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "deploy" / "nginx.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def adapt(conf: str, *, port: int, web: str, media: str, media_root: Path, run_dir: Path) -> str:
    """deploy/nginx.conf for `nginx -p run_dir` on 127.0.0.1:port, with `web` and `media`
    (host:port) as the upstreams and `media_root` as the shared media volume."""
    temp = "".join(f"    {name}_temp_path {run_dir / name};\n" for name in TEMP_PATHS)
    changes = [
        ("worker_processes auto;", f"worker_processes 1;\npid {run_dir / 'nginx.pid'};{_user()}"),
        ("http {\n", f"http {{\n{temp}"),
        ("/var/log/nginx/access.log", f"{run_dir / 'access.log'}"),
        ("/var/cache/nginx/", f"{run_dir}/cache/"),
        ("server web:8000;", f"server {web};"),
        ("server media:8001;", f"server {media};"),
        ("/var/lib/traffpunkt/media/", f"{media_root}/"),
        ("listen 80;\n        server_name _;", f"listen 127.0.0.1:{port};\n        server_name _;"),
    ]
    for old, new in changes:
        if old not in conf:
            raise ValueError(f"deploy/nginx.conf no longer has {old!r}: update tests/nginx.py")
        conf = conf.replace(old, new)
    return conf


def _user() -> str:
    """Started by root (a CI container), nginx would hand its workers to `nobody`, who cannot
    read the test's private folders: the workers stay the user who runs the tests."""
    return "\nuser root root;" if os.geteuid() == 0 else ""


class Nginx:
    """`with Nginx(port, web=..., media=..., media_root=..., run_dir=...)`: nginx running the
    adapted production config in the foreground, stopped on exit."""

    def __init__(self, port: int, *, web: str, media: str, media_root: Path,
                 run_dir: Path) -> None:
        self.port, self.run_dir = port, run_dir
        self.url = f"http://127.0.0.1:{port}"
        self._conf = adapt(CONF.read_text(encoding="utf-8"), port=port, web=web, media=media,
                           media_root=media_root, run_dir=run_dir)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        (self.run_dir / "cache").mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(self._conf, encoding="utf-8")
        args = [binary, "-p", str(self.run_dir), "-e", str(self.run_dir / "error.log"),
                "-c", str(conf), "-g", "daemon off;"]
        subprocess.run([*args, "-t"], check=True, capture_output=True)  # a bad config says why
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.errors()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not listen on {self.port}")

    def errors(self) -> str:
        log = self.run_dir / "error.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
