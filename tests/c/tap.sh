# shellcheck shell=bash
# TAP and bench helpers for the test scripts of tests/c (*.sh).  Source it.
# The scripts run as root in the guest; the C programs are in $CTESTS_BIN.
set -euo pipefail

# These scripts change the system under test (modules, swap, cgroups,
# mounts, fault injection): in a scripts/vm-run guest only (vm-init
# exports VMRUN=1 and writes /run/rxe-env); RXE_ODP_LOCAL_OK=1 overrides.
if [ "${VMRUN:-}" != 1 ] || [ ! -e /run/rxe-env ]; then
	if [ "${RXE_ODP_LOCAL_OK:-}" != 1 ]; then
		echo "Bail out! $(basename "$0") changes the system it runs on: run it in a scripts/vm-run guest (RXE_ODP_LOCAL_OK=1 to run it here anyway)"
		exit 1
	fi
fi

# KTAP as kselftest writes it (see tap.h): header and plan first, totals
# last, exit status 0 pass, 1 fail, 4 every test skipped.
TAP_N=0 TAP_FAILED=0 TAP_PLAN=0 TAP_SKIPPED=0
tap_plan() { TAP_PLAN=$1; printf 'TAP version 13\n1..%s\n' "$1"; }
# tap_ok STATUS DESCRIPTION: STATUS 0 is ok (a command's exit status)
tap_ok() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $TAP_N - $2"
	else echo "not ok $TAP_N - $2"; TAP_FAILED=$((TAP_FAILED + 1)); fi
}
tap_skip() { TAP_N=$((TAP_N + 1)) TAP_SKIPPED=$((TAP_SKIPPED + 1)); echo "ok $TAP_N - $2 # SKIP $1"; }
tap_skip_rest() { while [ $TAP_N -lt $TAP_PLAN ]; do tap_skip "$1" "${2:-skipped}"; done; }
tap_diag() { printf '# %s\n' "$*"; }
tap_bail() { echo "Bail out! $*"; exit 1; }
tap_exit() {
	echo "# Totals: pass:$((TAP_N - TAP_FAILED - TAP_SKIPPED)) fail:$TAP_FAILED xfail:0 xpass:0 skip:$TAP_SKIPPED error:0"
	[ $TAP_FAILED -eq 0 ] || exit 1
	[ $TAP_N -eq 0 ] || [ $TAP_SKIPPED -ne $TAP_N ] || exit 4
	exit 0
}
# tap_indent: a sub-program's TAP, as diagnostics of this one
tap_indent() { sed 's/^/# | /'; }

RXE_DEV=${RXE_DEV:-rxe0}
# ctest_bin NAME: the path of a C test program.  Called as x=$(ctest_bin
# NAME) || exit 1: the bail-out inside $(...) only ends the subshell, so
# it is said on stderr too.
ctest_bin() {
	local b=${CTESTS_BIN:-}
	if [ -z "$b" ] || [ ! -x "$b/$1" ]; then
		echo "Bail out! no program $1 in CTESTS_BIN='$b' (make -C tests/c OUT=...)" >&2
		tap_bail "no program $1 in CTESTS_BIN='$b'"
	fi
	echo "$b/$1"
}

# hw_counter NAME: an rxe hw counter of port 1 ("odp_rnr_naks"); the core
# caches them for 10 ms after a read, so wait that out first.
hw_counter() {
	sleep 0.03
	cat "/sys/class/infiniband/$RXE_DEV/ports/1/hw_counters/$1" 2>/dev/null || echo -1
}

# Fault injection (Documentation/fault-injection): fi_on NAME PROBABILITY
# [TIMES] makes NAME fail that percentage of its calls, silently, at most
# TIMES (default 10^6) times; fi_count NAME: failures injected since fi_on;
# fi_off NAME.
FI=/sys/kernel/debug
FI_TIMES=1000000
fi_have() { [ -d "$FI/$1" ]; }
fi_on() {
	FI_TIMES=${3:-1000000}
	echo 0 >"$FI/$1/verbose"
	echo 1 >"$FI/$1/interval"
	echo "$FI_TIMES" >"$FI/$1/times"
	echo "$2" >"$FI/$1/probability"
}
fi_count() { echo $((FI_TIMES - $(cat "$FI/$1/times"))); }
fi_off() { echo 0 >"$FI/$1/probability" 2>/dev/null || true; }

# tap_run OUTFILE CMD...: run CMD, its output kept in OUTFILE and shown as
# diagnostics; returns CMD's exit status.  Scratch files go in $TAP_TMP
# (removed by tap_cleanup, which the scripts call from their EXIT trap).
TAP_TMP=$(mktemp -d)
tap_cleanup() { rm -rf "$TAP_TMP"; }
tap_run() {
	local f=$1 st=0
	shift
	"$@" >"$f" 2>&1 || st=$?
	tap_indent <"$f"
	return $st
}
# tap_stream OUTFILE CMD...: the same, but shown line by line as it comes
# (for a run that may bring the kernel down before it ends)
tap_stream() {
	local f=$1 st=0
	shift
	"$@" 2>&1 | tee "$f" | sed -u 's/^/# | /' || st=${PIPESTATUS[0]}
	return $st
}
