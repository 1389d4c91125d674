#!/bin/bash
# Deregistration of an ODP MR while its page fault is blocked in the
# backing store (review finding H3): mounts tests/c/stallfs.py (a FUSE
# file system whose reads wait until told to finish) and runs odp_stall
# over its file; see odp_stall.c for the tests.  With --qps N it runs
# odp_stall_qps instead: N QPs whose faults block in the file system, and
# one more QP that must keep working meanwhile.  Skips without FUSE
# (CONFIG_FUSE_FS, /dev/fuse) or python3-fusepy.
#
# Usage: odp_stall.sh [--wait SECS] [--qps N]
#   --wait SECS  how long odp_stall's dereg waits (default 60: beyond
#                rxe's 50 s pool wait)
. "$(dirname "$0")/tap.sh"
wait=60 qps=0
while [ $# -gt 0 ]; do
	case "$1" in
	--wait) wait=${2?}; shift ;;
	--qps) qps=${2?}; shift ;;
	-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "odp_stall.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$qps" -gt 0 ]; then
	prog=$(ctest_bin odp_stall_qps) || exit 1
	plan=5
else
	prog=$(ctest_bin odp_stall) || exit 1
	plan=5
fi
skip() { tap_plan $plan; tap_skip_rest "$1" "dereg during a stalled fault"; tap_exit; }
[ -c /dev/fuse ] || skip "no /dev/fuse (CONFIG_FUSE_FS)"
/usr/bin/python3 -c 'import fusepy' 2>/dev/null || skip "no python3-fusepy"
mnt=$TAP_TMP/mnt ctl=$TAP_TMP/ctl
mkdir "$mnt" "$ctl"
/usr/bin/python3 "$(dirname "$0")/stallfs.py" "$mnt" "$ctl" $((1 << 20)) $((wait + 120)) \
	>"$TAP_TMP/stallfs.log" 2>&1 &
fs=$!
cleanup() {	# under set -e: every step may fail
	touch "$ctl/release" 2>/dev/null || true
	umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	kill "$fs" 2>/dev/null || true
	wait "$fs" 2>/dev/null || true
	tap_cleanup
}
trap cleanup EXIT
for _ in $(seq 100); do
	[ "$(stat -c %s "$mnt/data" 2>/dev/null)" = $((1 << 20)) ] && break
	kill -0 "$fs" 2>/dev/null || break
	sleep 0.1
done
if [ "$(stat -c %s "$mnt/data" 2>/dev/null)" != $((1 << 20)) ]; then
	tap_indent <"$TAP_TMP/stallfs.log"
	tap_bail "stallfs did not mount on $mnt"
fi
st=0
if [ "$qps" -gt 0 ]; then
	"$prog" "$mnt/data" "$ctl" "$qps" || st=$?
else
	"$prog" "$mnt/data" "$ctl" "$wait" || st=$?
fi
exit $st
