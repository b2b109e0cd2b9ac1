# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The prelude every end-to-end test (test/*.sh) sources first: a hard time
# bound, the root and tool checks, fail/skip/step, and one cleanup that runs
# on every exit (the end, fail, a `set -e` error, an interrupt, the time
# bound). Not a test itself (`make e2e` runs test/*.sh). A test starts:
#
#   #!/usr/bin/env bash
#   # SPDX-License-Identifier: Apache-2.0
#   # What it checks, what it needs.
#   set -uo pipefail                  # -euo pipefail if the body relies on -e
#   # shellcheck source=test/lib/prelude.bash
#   . "$(dirname "$0")/lib/prelude.bash"   # or lib/netns.bash, which sources it
#   tw_init NAME SECONDS KILL_AFTER WHY TOOL... -- "$@"
#   ...                               # the checks: step, fail, skip
#   RC=0                              # the last line: reached the end, passed
#
# tw_init NAME SECONDS KILL_AFTER WHY TOOL... -- ARGS:
#   - changes to the repository root;
#   - re-executes the script once under `timeout -k KILL_AFTER SECONDS`
#     (NAME_INNER=1 in the environment, NAME in capitals, marks the inner
#     run), so that a test never outlives its bound; timeout signals the
#     whole process group. What comes before tw_init runs twice: keep it to
#     settings (variables the bound is computed from, a skip);
#   - without root: SKIP, saying WHY root is needed (WHY "" for a test that
#     runs as any user);
#   - without one of the TOOLs (a command name or a path): FAIL;
#   - makes TMP and installs the cleanup.
# It sets:
#   TW_NAME     NAME, the prefix of every message
#   ROOT        the repository root (also the working directory)
#   TMP         a fresh /tmp/NAME.XXXXXX, removed on exit
#   PIDS        () background processes to stop on exit: TERM, and KILL
#               TW_GRACE seconds later when TW_GRACE is set
#   NAMESPACES  () named network namespaces to delete on exit, after killing
#               every process in them (`ip netns pids`)
#   TW_GRACE    "" (no second pass)
#   RC          1: the exit status; the test sets RC=0 at its end
# and a test may define
#   tw_on_exit     run on every exit, once PIDS and the namespaces' processes
#                  are gone (cgroups, mounts the test made)
#   tw_on_failure  run when RC is not 0, before TMP goes (print or keep logs)
# Functions: fail MSG (FAIL and exit 1), skip MSG (SKIP and exit 0), step
# MSG (a timestamped heading), tw_exporter (EXPORTER: the binary), and
# tw_check / tw_checks_done for a list of checks that goes on after a
# failure. Layers on top: netns.bash (namespaces, proc copies, pod cgroups),
# doctor.bash (the doctor's scene); inner.bash is the prelude of a script a
# test runs inside `unshare --net`.

TW_NAME=$(basename "$0" .sh)

tw_init() {
  TW_NAME=$1
  local secs=$2 kill=$3 why=$4 inner t self
  shift 4
  self=$(realpath "$0")
  cd "$(dirname "$self")/.." || exit 1
  ROOT=$PWD
  inner=${TW_NAME^^}_INNER
  local tools=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do tools+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  if [ -z "${!inner:-}" ]; then
    exec timeout -k "$kill" "$secs" env "$inner=1" bash "$self" "$@"
  fi
  if [ -n "$why" ] && [ "$(id -u)" -ne 0 ]; then
    skip "needs root for $why"
  fi
  for t in "${tools[@]}"; do
    command -v "$t" >/dev/null || { echo "$TW_NAME: $t not found (run make deps)" >&2; exit 1; }
  done
  PIDS=()
  NAMESPACES=()
  TW_GRACE=""
  RC=1
  TMP=$(mktemp -d "/tmp/$TW_NAME.XXXXXX") || { echo "$TW_NAME: mktemp failed" >&2; exit 1; }
  TW_TMP=$TMP # removed even if the test points TMP elsewhere
  trap tw_cleanup EXIT
  trap tw_interrupted INT TERM
}

# A child forked for `cmd &` keeps these traps until it execs cmd: one
# signalled in between (a test that ends at once) only exits, and leaves
# the cleanup to the test's own shell.
tw_interrupted() {
  [ "$BASHPID" = $$ ] || exit 1
  echo "$TW_NAME: interrupted or over time" >&2
  RC=1
  exit 1
}

tw_cleanup() {
  local p n
  [ "$BASHPID" = $$ ] || return
  set +e # every step runs, whatever the test's options
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$TW_GRACE" ]; then
    sleep "$TW_GRACE"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  fi
  for n in "${NAMESPACES[@]}"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  if declare -F tw_on_exit >/dev/null; then
    tw_on_exit
  fi
  if [ "$RC" -ne 0 ] && declare -F tw_on_failure >/dev/null; then
    tw_on_failure
  fi
  rm -rf "$TMP" "$TW_TMP"
  exit "$RC"
}

fail() { echo "$TW_NAME: FAIL: $*" >&2; RC=1; exit 1; }
# skip also works before tw_init (a test that is off unless asked for).
skip() { echo "$TW_NAME: SKIP ($*)"; RC=0; exit 0; }
step() { echo "--- $(date -u +%T) $*"; }

# tw_exporter sets EXPORTER: the binary `make build` made (make e2e builds
# it first), or, when the script runs alone without it, one built in $TMP.
tw_exporter() {
  EXPORTER=$ROOT/timewait_exporter
  if [ ! -x "$EXPORTER" ]; then
    EXPORTER=$TMP/timewait_exporter
    CGO_ENABLED=0 go build -o "$EXPORTER" . || fail "go build of the exporter"
  fi
}

# tw_check NAME CMD...: one check of a list that goes on after a failure.
# CMD is a shell function or a command (run under `timeout 300`); prints
# "ok   NAME", or "FAIL NAME" and CMD's output indented. tw_checks_done
# prints the tally and sets RC=0 when no check failed.
TW_PASSED=0 TW_FAILED=0
tw_check() {
  local name=$1 out t=(timeout 300)
  shift
  declare -F "$1" >/dev/null && t=()
  if out=$("${t[@]}" "$@" 2>&1); then
    TW_PASSED=$((TW_PASSED + 1)); echo "ok   $name"
  else
    TW_FAILED=$((TW_FAILED + 1)); echo "FAIL $name"; printf '%s\n' "$out" | sed 's/^/     /'
  fi
}
tw_checks_done() {
  echo "$TW_NAME: $TW_PASSED passed, $TW_FAILED failed"
  [ "$TW_FAILED" -ne 0 ] || RC=0
}
