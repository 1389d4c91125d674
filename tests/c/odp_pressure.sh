#!/bin/bash
# Memory pressure.  odp_storm runs in a memory cgroup whose limit is a
# quarter of its ODP region, with swap on zram, and writes the whole region
# first (--prefill): most of it goes to swap before the traffic starts, and
# the kernel keeps swapping ODP pages out under the traffic (each swap-out
# invalidates them in rxe) and back in on the next fault.  Every byte must stay right, and the
# kernel must really have swapped (pswpout) and invalidated.
#
# Usage: odp_pressure.sh [--seconds S] [--limit-mib N]
. "$(dirname "$0")/tap.sh"
secs=30 limit=16
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) secs=${2?}; shift ;;
	--limit-mib) limit=${2?}; shift ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "odp_pressure.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
tap_plan 4
storm=$(ctest_bin odp_storm) || exit 1
cg=/sys/fs/cgroup/odp-pressure
zram=
cleanup() {
	rmdir "$cg" 2>/dev/null || true
	if [ -n "$zram" ]; then
		swapoff "/dev/$zram" 2>/dev/null || true
		echo 1 >"/sys/block/$zram/reset" 2>/dev/null || true
	fi
	tap_cleanup
}
trap cleanup EXIT

# swap: a zram device of 4 times the limit, unless swap is already on
if [ "$(awk '/^SwapTotal:/ { print $2 }' /proc/meminfo)" = 0 ]; then
	[ -e /sys/block/zram0 ] || modprobe zram 2>/dev/null || true
	[ -e /sys/block/zram0 ] || { tap_skip_rest "no zram device (CONFIG_ZRAM)" "memory pressure"; tap_exit; }
	zram=zram0
	echo $((limit * 4 + 64))M >/sys/block/$zram/disksize
	mkswap "/dev/$zram" >/dev/null && swapon "/dev/$zram" ||
		tap_bail "cannot swap on /dev/$zram"
fi
# the memory controller for the cgroup, and the cgroup
grep -qw memory /sys/fs/cgroup/cgroup.controllers ||
	{ tap_skip_rest "no memory cgroup controller" "memory pressure"; tap_exit; }
grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p "$cg"
echo $((limit << 20)) >"$cg/memory.max"
echo max >"$cg/memory.swap.max"

# the region: 4 times the limit, in stripes of 32 pages
stripes=$((limit * 4 * 256 / 32))
i0=$(hw_counter odp_invalidations)
st=0
tap_run "$TAP_TMP/storm" sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
	"$storm" --seconds "$secs" --seed 4 --stripes "$stripes" --stripe-pages 32 \
	--prefill --mutators fork,compact || st=$?
# the cgroup's own figures (the guest kernel has no /proc/vmstat events):
# the most swap it used, and the anonymous pages read back from swap
peak=$(cat "$cg/memory.swap.peak" 2>/dev/null || echo 0)
refault=$(awk '/^workingset_refault_anon / { print $2 }' "$cg/memory.stat")
i1=$(hw_counter odp_invalidations)
oom=$(awk '/^oom_kill / { print $2 }' "$cg/memory.events")
fig=$(sed -n 's/^# storm-figures //p' "$TAP_TMP/storm")
tap_ok $st "odp_storm over $((limit * 4)) MiB of ODP memory in a $limit MiB cgroup: every byte right (exit $st)"
tap_ok $((peak > 0 && refault > 0 ? 0 : 1)) \
	"the kernel swapped ODP memory out (peak $((peak >> 10)) KiB of swap) and back in ($refault pages)"
tap_ok $((i1 > i0 ? 0 : 1)) "and invalidated ODP pages ($((i1 - i0)) invalidations)"
tap_ok $((oom == 0 ? 0 : 1)) "no OOM kill in the cgroup ($oom)"
[ -z "$fig" ] || echo "# pressure-figures {\"limit_mib\":$limit,\"swap_peak_kib\":$((peak >> 10)),\"swapped_in\":$refault,\"storm\":$fig}"
tap_exit
