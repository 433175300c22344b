"""Networks that are not loopback, built on this machine (issue 21): a Linux network namespace
joined to the host by a veth pair, with the firewall (nftables) and the line (tc tbf, random
drops) a municipal library or a town hall gives its staff; and Debian's coturn to get through.

Every address is private and lives on this machine: the host end of a pair is 10.231.N.1, the
namespace's end 10.231.N.2, and the namespace's default route leads to the host. Nothing here
reaches another machine. A browser runs inside a namespace through `chromium_in`, a two-line
wrapper that Playwright launches in place of /usr/bin/chromium (it talks to the browser over a
pipe, which `ip netns exec` passes on).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import free_port, wait_for_port

TURN_SECRET = "turn-secret-for-tests"


def sh(*args: str, stdin: str | None = None) -> None:
    subprocess.run(args, input=stdin, text=True, check=True, capture_output=True)


class Namespace:
    """A network namespace behind one or more veth links to the host."""

    _count = 0

    def __init__(self) -> None:
        Namespace._count += 1
        self.name = f"tp{os.getpid() % 100000}n{Namespace._count}"
        # (host device, host address, own device, own address) of each link
        self.links: list[tuple[str, str, str, str]] = []

    def __enter__(self) -> Namespace:
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        self.add_link()
        return self

    def __exit__(self, *exc: object) -> None:
        sh("ip", "netns", "del", self.name)  # takes its veth ends and their host peers along

    def add_link(self) -> str:
        """One more way out (a second network: the phone's hotspot next to the library's
        Wi-Fi). The first link carries the default route; returns the namespace's address."""
        index = len(self.links)
        subnet = (os.getpid() + 7 * Namespace._count + index) % 250 + 1
        host_dev, own_dev = f"{self.name}h{index}", f"{self.name}i{index}"
        host_ip, own_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
        sh("ip", "link", "add", host_dev, "type", "veth", "peer", "name", own_dev,
           "netns", self.name)
        sh("ip", "addr", "add", f"{host_ip}/24", "dev", host_dev)
        sh("ip", "link", "set", host_dev, "up")
        self.run("ip", "addr", "add", f"{own_ip}/24", "dev", own_dev)
        self.run("ip", "link", "set", own_dev, "up")
        if not self.links:
            self.run("ip", "route", "add", "default", "via", host_ip)
        self.links.append((host_dev, host_ip, own_dev, own_ip))
        return own_ip

    @property
    def host_ip(self) -> str:
        """The host's address on the first link: servers the namespace must reach listen here."""
        return self.links[0][1]

    def run(self, *args: str, stdin: str | None = None) -> None:
        sh("ip", "netns", "exec", self.name, *args, stdin=stdin)

    def block_udp(self) -> None:
        """The firewall of many a municipal network: nothing leaves over UDP, so no STUN, no
        direct media, no TURN over UDP; TCP (web, TURN over TCP or TLS) goes through."""
        self.run("nft", "-f", "-", stdin=(
            "table inet blocked {\n chain out {\n"
            "  type filter hook output priority 0; policy accept;\n"
            '  oif "lo" accept\n  meta l4proto udp drop\n }\n}\n'))

    def shape(self, rate: str = "1mbit", loss_percent: float = 2.0) -> None:
        """A slow, lossy line both ways: `rate` by a token bucket (tc tbf) on both ends of the
        first link, its queue holding at most 300 ms; `loss_percent` of packets in each
        direction dropped at random by nftables. (netem would do both, but this kernel has no
        sch_netem and a test cannot load modules.)"""
        host_dev, _, own_dev, _ = self.links[0]
        tbf = ["tbf", "rate", rate, "burst", "16kb", "latency", "300ms"]
        sh("tc", "qdisc", "add", "dev", host_dev, "root", *tbf)
        self.run("tc", "qdisc", "add", "dev", own_dev, "root", *tbf)
        per_mille = round(loss_percent * 10)
        self.run("nft", "-f", "-", stdin=(
            "table inet lossy {\n"
            f" chain in {{\n  type filter hook input priority 0; policy accept;\n"
            f'  iif "lo" accept\n  numgen random mod 1000 < {per_mille} drop\n }}\n'
            f" chain out {{\n  type filter hook output priority 0; policy accept;\n"
            f'  oif "lo" accept\n  numgen random mod 1000 < {per_mille} drop\n }}\n'
            "}\n"))

    def unshape(self) -> None:
        """The line recovers: what :meth:`shape` did is undone."""
        host_dev, _, own_dev, _ = self.links[0]
        sh("tc", "qdisc", "del", "dev", host_dev, "root")
        self.run("tc", "qdisc", "del", "dev", own_dev, "root")
        self.run("nft", "delete", "table", "inet", "lossy")

    def switch_network(self) -> str:
        """The network changes under the browser, as when a laptop leaves the library's Wi-Fi
        for a phone's hotspot: a new link comes up, the default route moves to it, and the old
        link goes down with its address. Returns the new address. The host keeps its end of
        the old link, so servers listening there are reached over the new one."""
        old_dev = self.links[-1][2]
        own_ip = self.add_link()
        self.run("ip", "link", "set", old_dev, "down")
        self.run("ip", "route", "replace", "default", "via", self.links[-1][1])
        return own_ip

    @contextlib.contextmanager
    def chromium(self) -> Iterator[str]:
        """The path of a wrapper that runs Debian's /usr/bin/chromium inside this namespace."""
        with tempfile.TemporaryDirectory() as tmp:
            wrapper = Path(tmp) / "chromium"
            wrapper.write_text(
                f'#!/bin/sh\nexec ip netns exec {self.name} /usr/bin/chromium "$@"\n')
            wrapper.chmod(0o755)
            yield str(wrapper)


@contextlib.contextmanager
def coturn(ip: str = "127.0.0.1", secret: str = TURN_SECRET) -> Iterator[int]:
    """Debian's turnserver on `ip` (TCP and UDP), REST credentials with `secret`, relaying from
    `ip` to peers anywhere on this machine (loopback included); yields its port."""
    binary = shutil.which("turnserver")
    assert binary, "coturn is installed by scripts/setup.sh --test"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "turn.log"
        log.touch()  # wait_for_port shows it if turnserver exits first
        proc = subprocess.Popen([
            binary, "-n", f"--listening-ip={ip}", f"--relay-ip={ip}",
            f"--listening-port={port}", "--use-auth-secret", f"--static-auth-secret={secret}",
            "--realm=traffpunkt", "--fingerprint", "--no-tls", "--no-dtls", "--no-cli",
            "--allow-loopback-peers", "--min-port=49160", "--max-port=49400",
            f"--log-file={log}", "--simple-log", "--no-stdout-log",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, proc, log, timeout=15, host=ip)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)
