#!/bin/bash
# The interlock selftest.  fail_rxe_odp_invalidate (a debug option of the
# series) makes rxe ignore MMU invalidations: the pages of an ODP MR stay
# mapped after the kernel took them away, which is exactly the bug the
# reliability tests exist to catch.  With it on, the stale-page test and
# the storm must FAIL and say why (a MISMATCH or a LEAK); this script
# passes when they do.  It breaks the kernel on purpose (RDMA reaches freed
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
tap_plan 3
knob=fail_rxe_odp_invalidate
if ! fi_have $knob; then
	tap_skip_rest "no $FI/$knob (kernel without CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)" "broken interlock caught"
	exit 0
fi
stale=$(ctest_bin odp_stale) || exit 1
storm=$(ctest_bin odp_storm) || exit 1
trap 'fi_off $knob; tap_cleanup' EXIT
# The output is streamed: the kernel may well die of the stale pages
# (RDMA into freed pages, pages marked dirty after they were freed)
# before a program ends; what it printed until then is the verdict.

# the first invalidation of each of the first two rounds (explicit and
# implicit MR) is ignored
fi_on $knob 100 2
st=0
tap_stream "$TAP_TMP/stale" "$stale" --rounds 2 || st=$?
why=$(grep -c -E 'MISMATCH|LEAK' "$TAP_TMP/stale" || true)
tap_ok $((st != 0 && why > 0 ? 0 : 1)) \
	"odp_stale fails with the interlock broken (exit $st, $why lines with MISMATCH or LEAK)"
n=$(fi_count $knob)

fi_on $knob 50 300
st=0
tap_stream "$TAP_TMP/storm" "$storm" --seconds "$secs" --seed 3 --mutators dontneed,remap || st=$?
why=$(grep -c 'MISMATCH' "$TAP_TMP/storm" || true)
tap_ok $((st != 0 && why > 0 ? 0 : 1)) \
	"odp_storm fails with the interlock broken (exit $st, $why MISMATCH lines)"
n=$((n + $(fi_count $knob)))
fi_off $knob
tap_ok $((n > 0 ? 0 : 1)) "invalidations were ignored on purpose ($n)"
tap_exit
