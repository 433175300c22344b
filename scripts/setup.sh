#!/usr/bin/env bash
# Installs what Träffpunkt needs on a fresh Debian machine: Debian packages, a virtualenv and
# the project itself. Safe to run again: it only installs what is missing.
#   scripts/setup.sh          run-time needs
#   scripts/setup.sh --test   also what the tests need (chromium, ffmpeg, node, test extras,
#                             the root package.json's tsc)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "setup: installing Debian packages: ${missing[*]}"
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install python3 python3-venv ca-certificates tzdata
if [[ $want_test -eq 1 ]]; then
  apt_install chromium ffmpeg fonts-dejavu-core nginx coturn
  # A WHIP publisher that is not a browser or OBS: GStreamer's webrtcbin, driven from Debian's
  # Python (tests/gst_whip.py; H.264 from x264enc in -ugly, VP8 and webrtcbin in -good/-bad).
  apt_install python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 \
    gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-tools
  # Networks that block UDP, slow lines (tests/network.py): namespaces, nft rules, tc.
  apt_install iproute2 nftables
  command -v node >/dev/null || apt_install nodejs
  command -v npm >/dev/null || apt_install npm
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  command -v redis-server >/dev/null || apt_install redis-server
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
extras=""; [[ $want_test -eq 1 ]] && extras="[test]"
stamp=".venv/.installed$extras-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "setup: installing Python packages$extras"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".$extras"
  touch "$stamp"
fi

if [[ $want_test -eq 1 ]]; then
  npm_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
  if [[ ! -f "$npm_stamp" ]]; then
    echo "setup: installing npm packages (package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$npm_stamp"
  fi
fi
