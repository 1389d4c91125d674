#!/bin/bash
# Transient ODP page faults.  fail_rxe_odp_fault (a debug option of the
# series) makes a share of the data path's page faults fail as if the range
# had kept changing: each operation then goes through its retry path (RNR
# NAK to the requester for a send or RDMA write, a delayed read response,
# a rewound requester or completer).  The data must still be right: the
# storm and the fault tests pass, and the RNR NAK counter proves that the
# retry paths ran.
#
# Usage: odp_transient.sh [--seconds S] [--probability PERCENT]
. "$(dirname "$0")/tap.sh"
secs=20 prob=25
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) secs=${2?}; shift ;;
	--probability) prob=${2?}; shift ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "odp_transient.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
tap_plan 4
knob=fail_rxe_odp_fault
if ! fi_have $knob; then
	tap_skip_rest "no $FI/$knob (kernel without CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)" "transient faults"
	tap_exit
fi
storm=$(ctest_bin odp_storm) || exit 1
fault=$(ctest_bin odp_fault) || exit 1
trap 'fi_off $knob; tap_cleanup' EXIT
r0=$(hw_counter odp_rnr_naks)
fi_on $knob "$prob"
st=0
tap_run "$TAP_TMP/storm" "$storm" --seconds "$secs" --seed 2 --mutators dontneed,remap,fork || st=$?
n=$(fi_count $knob)
tap_ok $st "odp_storm with $prob% of the page faults failing transiently: every byte right (exit $st)"
# odp_fault moves 3 MiB messages into dropped pages, a fault every 4
# packets: each failed fault restarts a read from the last acknowledged
# packet, so at the storm's rate its 30 s deadlines would not hold
fprob=$(( prob / 5 > 0 ? prob / 5 : 1 ))
fi_on $knob "$fprob"
st=0
tap_run "$TAP_TMP/fault" "$fault" || st=$?
tap_ok $st "odp_fault with $fprob% of the page faults failing transiently (exit $st)"
n=$((n + $(fi_count $knob)))
fi_off $knob
r1=$(hw_counter odp_rnr_naks)
tap_ok $((n > 0 ? 0 : 1)) "faults were injected ($n)"
tap_ok $((r1 > r0 ? 0 : 1)) "the responder answered RNR NAK for them ($((r1 - r0)) RNR NAKs)"
tap_exit
