#!/usr/bin/env bash
# What `make test` needs beyond the Python packages: Debian's Chromium at /usr/bin/chromium. The browser tests
# (tests/web/test_browser.py) drive it through Playwright with executablePath=/usr/bin/chromium; Playwright never
# downloads a browser of its own. When /usr/bin/chromium is missing this installs Debian's `chromium` package
# with apt-get (as root, or through password-less sudo) and otherwise says, in one line, what to run.
#
# KETASIM_BOOTSTRAP_PROBE: the path checked for an installed Chromium (default /usr/bin/chromium). Only
# tools/fresh_machine_check.sh sets it, to a path that does not exist, so that the install branch runs as on a
# machine without Chromium.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
probe="${KETASIM_BOOTSTRAP_PROBE:-$CHROMIUM}"

if [ -x "$probe" ]; then
  exit 0
fi

fail() {
  echo "error: $1" >&2
  exit 1
}

echo "bootstrap: no Chromium at $probe; installing Debian's chromium with apt-get (for the browser tests)" >&2
command -v apt-get >/dev/null 2>&1 ||
  fail "the browser tests need Chromium at $CHROMIUM and this machine has no apt-get; install Chromium there and run make test again"
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  fail "the browser tests need Chromium at $CHROMIUM; install it with: sudo apt-get install -y chromium (then run make test again)"
fi

export DEBIAN_FRONTEND=noninteractive
# Try the package lists already on the machine first (no network needed when they are current); a fresh
# container has none, so update them and try again.
if ! "${as_root[@]}" apt-get install -y -qq chromium >/dev/null; then
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
fi
[ -x "$CHROMIUM" ] || fail "apt-get installed chromium but $CHROMIUM is still missing"
echo "bootstrap: $("$CHROMIUM" --version 2>/dev/null || echo chromium) at $CHROMIUM" >&2
