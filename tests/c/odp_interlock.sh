#!/bin/bash
# The interlock selftest.  The rxe module loaded here must be built with
# the mutant invalidate-ignored (tests/mutants, scripts/mutant-module): it
# ignores the invalidations it is told to through its module parameters
# mutant_ignore and mutant_every, and the pages of an ODP MR stay mapped
# after the kernel took them away, which is exactly the bug the
# reliability tests exist to catch.  With it, the stale-page test and the
# storm must FAIL and say why (a MISMATCH or a LEAK); this script passes
# when they do.  It breaks the kernel on purpose (RDMA reaches freed
# pages; KASAN may report it): tests/run interlock-selftest boots a kernel
# for it alone.
#
# Usage: odp_interlock.sh [--seconds S]
. "$(dirname "$0")/tap.sh"
secs=20
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) secs=${2?}; shift ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "odp_interlock.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
tap_plan 4
P=/sys/module/rdma_rxe/parameters
if [ ! -w "$P/mutant_ignore" ]; then
	# the selftest's boot loads the mutant: without it this is a failure
	tap_ok 1 "the rdma_rxe loaded is the invalidate-ignored mutant (no $P/mutant_ignore)"
	tap_skip_rest "no mutant loaded" "broken interlock caught"
	exit 1
fi
tap_ok 0 "the rdma_rxe loaded is the invalidate-ignored mutant ($P/mutant_ignore)"
stale=$(ctest_bin odp_stale) || exit 1
storm=$(ctest_bin odp_storm) || exit 1
trap 'echo 0 >"$P/mutant_ignore" 2>/dev/null; tap_cleanup' EXIT
ignored() { cat "$P/mutant_ignored"; }
# The output is streamed: the kernel may well die of the stale pages
# (RDMA into freed pages, pages marked dirty after they were freed)
# before a program ends; what it printed until then is the verdict.

# the first two invalidations (explicit and implicit MR rounds) ignored
n0=$(ignored)
echo 1 >"$P/mutant_every"
echo 2 >"$P/mutant_ignore"
st=0
tap_stream "$TAP_TMP/stale" "$stale" --rounds 2 || st=$?
why=$(grep -c -E 'MISMATCH|LEAK' "$TAP_TMP/stale" || true)
tap_ok $((st != 0 && why > 0 ? 0 : 1)) \
	"odp_stale fails with the interlock broken (exit $st, $why lines with MISMATCH or LEAK)"

# every second one of the next 600
echo 2 >"$P/mutant_every"
echo 600 >"$P/mutant_ignore"
st=0
tap_stream "$TAP_TMP/storm" "$storm" --seconds "$secs" --seed 3 --mutators dontneed,remap || st=$?
why=$(grep -c 'MISMATCH' "$TAP_TMP/storm" || true)
tap_ok $((st != 0 && why > 0 ? 0 : 1)) \
	"odp_storm fails with the interlock broken (exit $st, $why MISMATCH lines)"
echo 0 >"$P/mutant_ignore"
n=$(( $(ignored) - n0 ))
tap_ok $((n > 0 ? 0 : 1)) "invalidations were ignored on purpose ($n)"
tap_exit
