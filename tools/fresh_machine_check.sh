#!/usr/bin/env bash
# A newcomer's first hour, replayed: a fresh clone of this repository's committed HEAD, in a temporary folder,
# with no virtual environment, then `make demo` and `make test` exactly as the README says, with Chromium
# reported missing to the bootstrap.
#
#     tools/fresh_machine_check.sh            # keeps nothing; prints the two commands' times and exit codes
#     KEEP=1 tools/fresh_machine_check.sh     # keeps the clone (its path is printed)
#
# What it proves:
# - the committed tree is complete: nothing the demo or the tests need lives in an untracked or ignored file, in
#   this checkout's .venv or out/, or outside the repository (the clone sits in /tmp, away from ../shared);
# - `make demo` and `make test` each do all their own set-up from nothing (a new .venv from pyproject.toml);
# - with Chromium absent as far as the bootstrap can tell (KETASIM_BOOTSTRAP_PROBE points it at a path that does
#   not exist), `make test` runs tools/bootstrap_browser.sh's install branch (apt-get install chromium, as
#   root or through password-less sudo), and the browser tests then drive /usr/bin/chromium through Playwright
#   (executablePath=/usr/bin/chromium; Playwright downloads no browser).
# What it does not prove:
# - that apt-get can download Chromium: where the package is already installed apt-get answers "already the
#   newest version" (Docker, which would give a machine truly without it, does not run here); nor that
#   /usr/bin/chromium is absent from PATH for the tests themselves;
# - that pip can reach its index: the packages come from this machine's pip cache or index, as make install
#   finds them;
# - another operating system, Python version or CPU.
set -uo pipefail

repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
head="$(git -C "$repo" rev-parse --short HEAD)"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "note: uncommitted changes in $repo are not part of the check (it clones HEAD $head)" >&2
fi
work="$(mktemp -d /tmp/ketasim-fresh.XXXXXX)"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "kept: $work"; fi; }
trap cleanup EXIT

git clone --quiet --no-local "$repo" "$work/ketasim"
cd "$work/ketasim"
[ ! -e .venv ] || { echo "error: the clone already has a .venv" >&2; exit 1; }

# Run as a newcomer would: no virtual environment of this shell, Chromium reported missing to the bootstrap.
unset VIRTUAL_ENV PYTHONPATH
export KETASIM_BOOTSTRAP_PROBE=/nonexistent/chromium

status=0
for target in demo test; do
  echo "== make $target (clone of $head in $work/ketasim)"
  start=$(date +%s)
  make "$target" > "$work/make_$target.log" 2>&1
  rc=$?
  echo "   exit status $rc after $(( $(date +%s) - start )) s; last lines:"
  tail -n "$([ $rc = 0 ] && echo 4 || echo 40)" "$work/make_$target.log" | sed 's/^/   | /'
  if [ "$target" = test ] && ! grep -q "^bootstrap: no Chromium at /nonexistent/chromium" "$work/make_$target.log"; then
    echo "   the bootstrap's install branch did not run" >&2
    rc=1
  fi
  [ $rc = 0 ] || status=1
done
if [ $status = 0 ]; then echo "fresh clone: make demo and make test passed"; else echo "fresh clone: FAILED"; fi
exit $status
