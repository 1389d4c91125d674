#!/bin/bash
# Memory leaks of the RDMA stack, as kmemleak sees them after the tests
# before this one ran (tests/c/TESTS puts it last in its tier).
#
# Usage: kmemleak.sh
# Scans twice (kmemleak reports an object once it found no pointer to it
# in a scan and it is older than 5 s; the second scan, after that age,
# catches what the first was too young for), then reads
# /sys/kernel/debug/kmemleak.  A leak is the stack's when its allocation
# backtrace runs through rdma_rxe, ib_core or ib_uverbs (a frame of one
# of those modules, or, built in, a function named rxe_*, ib_*, rdma_*,
# uverbs_* or ib_uverbs_*).  Other suspected leaks are listed, not
# judged.  A kernel without kmemleak (Debian's), or with it off (the
# test kernel unless booted with kmemleak=on: tests/run --kmemleak),
# skips (exit 4).
#
# KTAP: 1 kmemleak scanned; 2 no leak attributed to the RDMA stack.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"
case "${1:-}" in -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac

KML=/sys/kernel/debug/kmemleak
trap tap_cleanup EXIT
tap_plan 2
if [ ! -e "$KML" ]; then
	tap_skip "no $KML (CONFIG_DEBUG_KMEMLEAK)" "kmemleak scanned"
	tap_skip_rest "no kmemleak"
	tap_exit
fi
# Off (kmemleak=off, the default of CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF),
# it refuses to scan: a skip, unless it was asked for (kmemleak=on) and
# turned itself off after an internal error (its pool ran out), when its
# report is not to be trusted: a failure.
t0=$(date +%s.%N)
if ! echo scan >"$KML" 2>/dev/null; then
	if grep -qw 'kmemleak=on' /proc/cmdline; then
		tap_ok 1 "kmemleak=on, but it refuses to scan: it turned itself off ($(dmesg | grep -m1 'kmemleak:.*disabled' || echo 'see dmesg'))"
		tap_skip_rest "kmemleak off"
		tap_exit
	fi
	tap_skip "kmemleak is off (boot with kmemleak=on)" "kmemleak scanned"
	tap_skip_rest "kmemleak off"
	tap_exit
fi
ok=0
sleep 6
echo scan >"$KML" 2>/dev/null || ok=1
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
cat "$KML" >"$TAP_TMP/report" 2>/dev/null || ok=1
tap_ok $ok "kmemleak scanned twice in $secs s ($(grep -c '^unreferenced object' "$TAP_TMP/report" || true) suspected leak(s) in all)"

# one line per suspected leak: "address size|frame frame ..."
awk '
	/^unreferenced object/ { if (obj != "") print obj "|" bt; s = $5; sub(/\):?$/, "", s); obj = $3 " (" s " bytes)"; bt = ""; inbt = 0; next }
	/^  backtrace/ { inbt = 1; next }
	# a frame: "    func+off/size [module]", "[<address>] " before it
	# on kernels that print addresses
	inbt && /^    / { sub(/^ *(\[<[0-9a-f]+>\] *)?/, ""); bt = bt " " $0 }
	END { if (obj != "") print obj "|" bt }
' "$TAP_TMP/report" >"$TAP_TMP/leaks"
grep -E '\[(rdma_rxe|ib_core|ib_uverbs)\]|[| ](rxe|ib|rdma|uverbs|ib_uverbs)_[a-z0-9_]+\+' \
	"$TAP_TMP/leaks" >"$TAP_TMP/ours" || true
n=$(grep -c . "$TAP_TMP/ours" || true)
while read -r l; do
	tap_diag "rdma leak: ${l:0:300}"
done <"$TAP_TMP/ours"
{ grep -vxFf "$TAP_TMP/ours" "$TAP_TMP/leaks" || true; } | head -n 5 | while read -r l; do
	tap_diag "other suspected leak (not judged): ${l:0:200}"
done
tap_ok $((n > 0)) "no leak attributed to rdma_rxe, ib_core or ib_uverbs ($n)"
tap_exit
