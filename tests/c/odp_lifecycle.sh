#!/bin/bash
# Lifecycle under traffic.  ODP objects are torn down while RDMA traffic is
# faulting pages into them, in every way a process or an administrator
# can do it: ibv_dereg_mr and ibv_destroy_qp (odp_lifecycle's in-process
# cases), SIGKILL of the process, `rdma link delete` of the device, and
# unloading and reloading rdma_rxe.  Nothing may hang (every step is
# bounded), the kernel must not complain (vm-run checks its log), and
# nothing may leak: the `rdma resource` counts of every device and the
# module refcount return to their baselines, and the slab memory stays
# steady over the rounds.
#
# Usage: odp_lifecycle.sh [--rounds N] [--bin DIR]
#   --rounds N  rounds of each kind (default 3): in-process cases, SIGKILL,
#               link delete; the module is reloaded twice in any case
#   --bin DIR   where odp_lifecycle is, if $CTESTS_BIN is not set
#               (tests/c/run-ctests sets it)
# Runs as root in the vm-run guest: rxe0 on dummy0 (RXE_DEV, RXE_NETDEV,
# RXE_IP, RXE_GID_INDEX, from the environment or /run/rxe-env), maybe
# rxe_v0/rxe_v1 on a veth pair and devices in other netns.  The script
# leaves the rxe devices as it found them (same names, netdevs and GID
# tables), on success and on failure, for the tests that run after it.
#
# rxe has no disassociate_ucontext: ib_uverbs_remove_one() waits until
# every process that has the device open has closed it, so `rdma link
# delete` of a device in use blocks until its users exit, and they keep
# working meanwhile; the module cannot be unloaded while the device is
# open (each open file holds a reference on it).  Both are checked.
. "$(dirname "$0")/tap.sh"
set +e	# many commands here are expected to fail; every status is checked

rounds=3
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2?}; shift ;;
	--bin) export CTESTS_BIN=${2?}; shift ;;
	-h|--help) sed -n '2,/^\. /{/^\. /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "odp_lifecycle.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[ "$rounds" -ge 1 ] 2>/dev/null || { echo "odp_lifecycle.sh: bad --rounds" >&2; exit 2; }

# shellcheck disable=SC1091
[ -n "${RXE_NETDEV:-}" ] || [ ! -r /run/rxe-env ] || . /run/rxe-env
[ "$(id -u)" = 0 ] || tap_bail "must run as root (in the vm-run guest)"
BIN=$(ctest_bin odp_lifecycle) || exit 1
for t in rdma jq modprobe timeout ip; do
	command -v $t >/dev/null || tap_bail "no $t"
done
[ -e "/sys/class/infiniband/$RXE_DEV" ] || tap_bail "no RDMA device $RXE_DEV"
[ -d /sys/module/rdma_rxe ] || tap_bail "rdma_rxe is not loaded (a module)"
: "${RXE_NETDEV:=$(rdma -j link show "$RXE_DEV/1" | jq -r '.[0].netdev')}"
: "${RXE_GID_INDEX:=$(for i in $(seq 0 15); do
	[ "$(cat "/sys/class/infiniband/$RXE_DEV/ports/1/gid_attrs/types/$i" 2>/dev/null)" = "RoCE v2" ] &&
		grep -q '^0000:0000:0000:0000:0000:ffff:' "/sys/class/infiniband/$RXE_DEV/ports/1/gids/$i" &&
		{ echo "$i"; break; }
done)}"
[ -n "$RXE_GID_INDEX" ] || tap_bail "no RoCE v2 IPv4 GID on $RXE_DEV"

# Bounds, in seconds.
T_READY=60	# until the traffic prints "ready"
T_EXIT=30	# a killed process is gone
T_RES=15	# resources freed after the last user closed the device
T_DELETE=30	# `rdma link delete` returns once its users are gone
T_CMD=60	# one rdma/modprobe command
T_GID=20	# a re-added device has its GIDs
TRAFFIC="-n 6 -s 256"	# ops per iteration, KiB each: a second or so in TCG

# Shell code here avoids running programs where it can: in the TCG guest,
# with faulting traffic on the one CPU, each exec of a program over 9p
# takes a second or two.
#
# Time in microseconds, and seconds since T0 with 2 decimals.
now() { echo "${EPOCHREALTIME/./}"; }
since() {
	local d=$(( ${EPOCHREALTIME/./} - $1 ))
	printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}
# nap SECS: sleep(1) without a process (a read that times out)
exec {NAP_FD}<> <(:)
nap() { read -rt "$1" -u "$NAP_FD" _; }
# oneline [SEP]: the lines of stdin joined with SEP (default |)
oneline() {
	local -a l
	mapfile -t l
	local IFS=${1:-|}
	echo "${l[*]}"
}
# indent: stdin as TAP diagnostics
indent() {
	local l
	while IFS= read -r l; do echo "# | $l"; done
}
# sorted: the arguments sorted, one per line (few: an insertion sort)
sorted() {
	local -a a=()
	local x i
	for x in "$@"; do
		for ((i = ${#a[@]}; i > 0; i--)); do
			[[ ${a[i - 1]} > $x ]] || break
			a[i]=${a[i - 1]}
		done
		a[i]=$x
	done
	[ ${#a[@]} -eq 0 ] || printf '%s\n' "${a[@]}"
}
# ok STATUS DESCRIPTION...: one test, STATUS 0 is ok
ok() {
	local st=$1
	shift
	tap_ok "$st" "$*"
}
# result WHY DESCRIPTION...: ok if WHY is empty, else not ok because of WHY
result() {
	local why=$1
	shift
	if [ -z "$why" ]; then tap_ok 0 "$*"; else tap_ok 1 "$*: $why"; fi
}

# --- state of the system ------------------------------------------------

# Resource counts of every RDMA device, one line per device, sorted:
# "rxe0 pd=1 cq=1 qp=1 cm_id=0 mr=0 ctx=0 srq=0", from lines like
# "0: rxe0: pd 1 cq 1 qp 1 cm_id 0 mr 0 ctx 0 srq 0" (without the index:
# it changes when a device is re-created).
res_counts() {
	local -a lines=() f
	local out i
	while read -ra f; do
		[ ${#f[@]} -ge 2 ] || continue
		out=${f[1]%:}
		for ((i = 2; i + 1 < ${#f[@]}; i += 2)); do
			out+=" ${f[i]}=${f[i + 1]}"
		done
		lines+=("$out")
	done < <(timeout 20 rdma resource show 2>/dev/null)
	sorted "${lines[@]}"
}
refcnt() {
	local r=none
	read -r r 2>/dev/null </sys/module/rdma_rxe/refcnt
	echo "$r"
}
# The rxe links: "NAME NETDEV" lines.  rxe devices have a "parent"
# attribute (the netdev) and no bus device.
rxe_links() {
	local d p
	for d in /sys/class/infiniband/*; do
		if [ -e "$d/parent" ] && [ ! -e "$d/device" ] && read -r p <"$d/parent"; then
			echo "${d##*/} $p"
		fi
	done	# in name order
}
# The GID table of DEV: "INDEX GID TYPE" for the entries in use.
gid_table() {
	local p=/sys/class/infiniband/$1/ports/1 i g t
	for ((i = 0; i < 32; i++)); do
		read -r g 2>/dev/null <"$p/gids/$i" || break
		[ "$g" = 0000:0000:0000:0000:0000:0000:0000:0000 ] && continue
		t=
		read -r t 2>/dev/null <"$p/gid_attrs/types/$i"
		echo "$i $g $t"
	done
}

# Wait up to SECS for CMD to succeed; prints the seconds it took.
wait_until() {
	local secs=$1 t0
	shift
	t0=$(now)
	while ! "$@"; do
		if [ $(( ${EPOCHREALTIME/./} - t0 )) -gt $(( secs * 1000000 )) ]; then
			since "$t0"
			return 1
		fi
		nap 0.1
	done
	since "$t0"
}
res_is_base() { [ "$(res_counts)" = "$BASE_RES" ]; }
ref_is_base() { [ "$(refcnt)" = "$BASE_REF" ]; }
gids_are_base() {	# every device that had GIDs has the same table again
	local d
	for d in "${!BASE_GIDS[@]}"; do
		[ "$(gid_table "$d")" = "${BASE_GIDS[$d]}" ] || return 1
	done
}
# Differences from the baseline, for the test descriptions.
res_diff() { echo "was: $(oneline <<<"$BASE_RES"); now: $(res_counts | oneline)"; }

# Slab memory in use, in KiB: "KMALLOC SUNRECLAIM".  The kmalloc caches
# (where rdma-core and rxe allocate every object: rdma_zalloc_drv_obj,
# uobjects, umems and their page lists) are shrunk first, which flushes
# the per-CPU slabs and, with KASAN, empties the quarantine of their freed
# objects: without that the quarantine (up to 1/32 of memory) hides any
# leak.  KMALLOC is the sum of active objects times object size over the
# kmalloc caches.  Two samples half a second apart, the smaller one: a
# packet or a work item that is just passing through does not count.
slab_once() {
	local s name active size b=0 k v
	for s in /sys/kernel/slab/kmalloc-*; do
		[ -L "$s" ] || echo 1 >"$s/shrink" 2>/dev/null
	done
	while read -r name active _ size _; do
		[[ $name == kmalloc-* ]] && b=$((b + active * size))
	done </proc/slabinfo
	while read -r k v _; do
		[ "$k" = SUnreclaim: ] && echo "$((b / 1024)) $v"
	done </proc/meminfo
}
slab_sample() {
	local a b
	a=$(slab_once)
	nap 0.5
	b=$(slab_once)
	if [ "${a%% *}" -le "${b%% *}" ]; then echo "$a"; else echo "$b"; fi
}

# --- processes ------------------------------------------------------------

declare -a PIDS=()
# gone PID: PID has exited (it may be a zombie not reaped yet)
pstate() {	# PID: its state letter (R, S, D, Z...), nothing if it is gone
	local st=
	read -r _ _ st _ 2>/dev/null <"/proc/$1/stat"
	echo "$st"
}
gone() {
	case "$(pstate "$1")" in ""|Z) return 0 ;; *) return 1 ;; esac
}
# What PID is doing, for a report: state, wchan, kernel stack.
proc_report() {
	tap_diag "pid $1 ($(cat "/proc/$1/comm" 2>/dev/null)): state $(pstate "$1")," \
		"wchan $(cat "/proc/$1/wchan" 2>/dev/null)"
	indent <"/proc/$1/stack" 2>/dev/null
}
# start_traffic NAME [DEV [GID_INDEX]]: odp_lifecycle --traffic in the
# background (not under timeout(1), so that it gets the signals itself;
# it stops by itself after 600 s); sets TPID and TOUT.  Waits for "ready".
start_traffic() {
	TOUT=$TAP_TMP/traffic-$1.out
	# shellcheck disable=SC2086
	"$BIN" --traffic 600 $TRAFFIC -d "${2:-$RXE_DEV}" -g "${3:-$RXE_GID_INDEX}" \
		>"$TOUT" 2>&1 &
	TPID=$!
	PIDS+=("$TPID")
	wait_until $T_READY ready_or_gone >/dev/null
	is_ready
}
is_ready() { [[ $'\n'$(<"$TOUT")$'\n' == *$'\nready\n'* ]]; }
# shellcheck disable=SC2317 # called by wait_until
ready_or_gone() { is_ready || gone "$TPID"; }
iters() {	# iterations the traffic has done
	local l n=0
	while IFS= read -r l; do [[ $l != "# iter "* ]] || n=$((n + 1)); done <"$TOUT"
	echo $n
}
# kill_wait PID: SIGKILL, then reap it; fails if it is not gone in T_EXIT.
KILL_SECS=
kill_wait() {
	kill -9 "$1" 2>/dev/null
	if ! KILL_SECS=$(wait_until $T_EXIT gone "$1"); then
		proc_report "$1"
		return 1
	fi
	wait "$1" 2>/dev/null
	return 0
}

# --- links and the module ---------------------------------------------------

# link_add NAME NETDEV: in the network namespace that has NETDEV.  (The
# statuses are returned explicitly: a bare "return" in the EXIT trap
# returns the status the script exits with.)
link_add() {
	local ns st=0
	if [ -e "/sys/class/net/$2" ]; then
		timeout $T_CMD rdma link add "$1" type rxe netdev "$2" || st=$?
		return $st
	fi
	for ns in $(ip netns list 2>/dev/null | while read -r n _; do echo "$n"; done); do
		if ip -n "$ns" link show "$2" >/dev/null 2>&1; then
			timeout $T_CMD ip netns exec "$ns" rdma link add "$1" type rxe netdev "$2" || st=$?
			return $st
		fi
	done
	echo "no netdev $2 in any namespace" >&2
	return 1
}
# Re-create the links of the baseline that are missing; 0 if all are back.
restore_links() {
	local name nd st=0
	[ -d /sys/module/rdma_rxe ] || timeout $T_CMD modprobe rdma_rxe || st=1
	while read -r name nd; do
		[ -e "/sys/class/infiniband/$name" ] && continue
		link_add "$name" "$nd" </dev/null || { st=$?; echo "rdma link add $name $nd: exit $st"; }
	done <<<"$BASE_LINKS"
	return $st
}
delete_links() {	# all rxe links of the baseline
	local name nd st=0
	while read -r name nd; do
		timeout $T_CMD rdma link delete "$name" || st=1
	done <<<"$BASE_LINKS"
	return $st
}
quick_diag() {	# what --quick printed, but its passed tests
	local l
	while IFS= read -r l; do
		[[ $l == "ok "* || $l == 1..* ]] || echo "# | $l"
	done <"$TAP_TMP/quick.out"
}
# data_test DEV: odp_lifecycle --quick on DEV, its output shown as
# diagnostics.  The GID index is looked up for DEV, not $RXE_GID_INDEX.
data_test() {
	local st=0
	env -u RXE_GID_INDEX timeout 120 "$BIN" --quick -d "$1" >"$TAP_TMP/quick.out" 2>&1 || st=$?
	quick_diag
	return $st
}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	# and a delete that was waiting for them returns before links are added
	for p in "${PIDS[@]}"; do
		wait_until "$T_EXIT" gone "$p" >/dev/null
	done
	# leave the devices as found, whatever happened
	if [ -n "${BASE_LINKS:-}" ] && ! restore_links >"$TAP_TMP/restore.out" 2>&1; then
		echo "# odp_lifecycle.sh: could not restore the rxe links, now: $(rxe_links | oneline ,)"
		indent <"$TAP_TMP/restore.out"
	fi
	tap_cleanup
}
trap cleanup EXIT

# sub_tap NAME FILE: the TAP of a C program in FILE as tests of this one;
# sets SUB_PLAN and SUB_RAN.
sub_tap() {
	local name=$1 line re='^(not )?ok [0-9]+ -? ?(.*)$'
	SUB_PLAN=-1 SUB_RAN=0
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			SUB_RAN=$((SUB_RAN + 1))
			ok "$([ -z "${BASH_REMATCH[1]}" ]; echo $?)" "$name: ${BASH_REMATCH[2]}"
		elif [[ $line == 1..* ]]; then
			SUB_PLAN=${line#1..}
		elif [[ $line == "#"* ]]; then
			echo "$line"
		elif [[ $line == "Bail out!"* ]]; then
			ok 1 "$name: ${line#Bail out! }"
		else
			echo "# | $line"
		fi
	done <"$2"
}

modules() {	# the loaded modules, sorted, on one line
	local -a m=()
	local name
	while read -r name _; do m+=("$name"); done </proc/modules
	sorted "${m[@]}" | oneline " "
}

# --- baseline ---------------------------------------------------------------

BASE_RES=$(res_counts)
BASE_REF=$(refcnt)
BASE_LINKS=$(rxe_links)
[ -n "$BASE_LINKS" ] || tap_bail "no rxe links"
declare -A BASE_GIDS=()
while read -r name nd; do
	BASE_GIDS[$name]=$(gid_table "$name")
done <<<"$BASE_LINKS"
BASE_MODS=$(modules)
# The plan first, as the kernel's selftests print it: the in-process
# program's tests (10 a round + 1: its own plan, odp_lifecycle.c) and 2
# about them; SIGKILL: a warm-up round, ROUNDS rounds and the slab; link
# delete: 5 a round; modprobe -r: 2; two reloads: 3 each; the veth pair:
# 1 (with RXE_VETH_OK=1); the system as found: 1.  A branch that reports
# fewer tests has failed one: the runner also counts the missing ones.
veth=0
[ "${RXE_VETH_OK:-0}" != 1 ] || veth=1
tap_plan $(( (10 * rounds + 1) + 2 + (rounds + 1) + 1 + 5 * rounds + 2 + 2 * 3 + veth + 1 ))
tap_diag "rounds $rounds; device $RXE_DEV on $RXE_NETDEV, GID index $RXE_GID_INDEX"
tap_diag "baseline rxe links: $(oneline , <<<"$BASE_LINKS"); rdma_rxe refcnt $BASE_REF"
tap_diag "baseline modules: $BASE_MODS"
while read -r l; do tap_diag "baseline resources: $l"; done <<<"$BASE_RES"
[ -n "$BASE_RES" ] || tap_bail "rdma resource show printed nothing"
SLAB0=$(slab_sample)
tap_diag "slab (KiB, kmalloc caches and SUnreclaim): $SLAB0"

# --- 1. in-process: dereg MR, destroy QP, implicit MR under faults -------------

t0=$(now)
st=0
timeout -k 10 900 "$BIN" -r "$rounds" -d "$RXE_DEV" -g "$RXE_GID_INDEX" \
	>"$TAP_TMP/inproc.out" 2>&1 || st=$?
sub_tap "in-process" "$TAP_TMP/inproc.out"
ok $(( st != 0 || SUB_PLAN != SUB_RAN )) "in-process cases finished: exit $st," \
	"planned $SUB_PLAN, ran $SUB_RAN, in $(since "$t0") s"
why=
secs=$(wait_until $T_RES res_is_base) || why=$(res_diff)
result "$why" "resources back to the baseline after the in-process cases in $secs s"

# --- 2. SIGKILL under traffic ------------------------------------------------------

# Slab samples: one after each round; round 0 is a warm-up (caches grow to
# their working set: slabs, per-CPU partial lists, stack depot entries).
declare -a SLAB=()
fatal=
for ((i = 0; i <= rounds; i++)); do
	t0=$(now)
	desc="SIGKILL round $i"
	[ $i -gt 0 ] || desc="SIGKILL warm-up round"
	if ! start_traffic "kill$i"; then
		ok 1 "$desc: no \"ready\" from the traffic: $(tail -n 3 "$TOUT" | oneline)"
		kill_wait "$TPID"
		continue
	fi
	# a different moment of the traffic each round: 0.2 to 1.7 s in
	nap "$(( i % 4 / 2 )).$(( (i % 2) * 5 + 2 ))"
	n=$(iters)
	died=0
	gone "$TPID" && died=1
	why="" secs="?"
	kill_wait "$TPID" || why="not gone $T_EXIT s after SIGKILL"
	if [ -z "$why" ]; then
		if secs=$(wait_until $T_RES res_is_base); then
			ref_is_base || why="rdma_rxe refcnt $(refcnt), baseline $BASE_REF"
		else
			why="resources not back in $T_RES s: $(res_diff)"
		fi
	fi
	[ -z "$why" ] || fatal=1
	[ $died = 0 ] || why="${why:+$why; }the traffic had died before the kill: $(tail -n 2 "$TOUT" | oneline)"
	if [ -z "$why" ]; then back="back to the baseline in $secs s"; else back="back to the baseline"; fi
	result "$why" "$desc: killed after $n iterations, gone in ${KILL_SECS:-?} s," \
		"resources and refcnt $back"
	[ -z "$fatal" ] || tap_bail "cannot go on after a failed SIGKILL round"
	SLAB+=("$(slab_sample)")
	tap_diag "slab after round $i: ${SLAB[-1]} (round took $(since "$t0") s)"
done

# Steady slab.  Measured on the 1-CPU TCG guest with the debug kernel
# (KASAN, lockdep), 8 SIGKILL rounds: the kmalloc total (see slab_sample)
# stayed within 11 KiB of its value after the warm-up round (6360, 6349,
# 6349, 6354, 6353, 6350, 6354, 6352, 6351 KiB); other runs drifted down
# by up to 250 KiB over the first rounds.  A traffic process that is not
# torn down keeps about 100 KiB of kmalloc objects (QPs, CQs, MRs, umems,
# their page lists, the uverbs objects): 3 rounds that each kept a stopped
# one alive grew the total by 307 KiB.  So the total growth over N rounds after the warm-up may be
# SLAB_NOISE KiB plus SLAB_ROUND KiB per round: a leak of a whole process'
# objects fails at once, one of 20 KiB per round within 3 rounds, smaller
# ones with more rounds.  (The `rdma resource` counts catch the leak of
# any object the core tracks, whatever its size, each round.)
SLAB_NOISE=24 SLAB_ROUND=8
if [ ${#SLAB[@]} -lt 2 ]; then
	ok 1 "slab steady over the SIGKILL rounds: only ${#SLAB[@]} samples"
else
	first=${SLAB[0]%% *} last=${SLAB[-1]%% *}
	limit=$(( SLAB_NOISE + SLAB_ROUND * (${#SLAB[@]} - 1) ))
	ok $(( last - first > limit )) "slab steady over the SIGKILL rounds: kmalloc" \
		"$first -> $last KiB over $(( ${#SLAB[@]} - 1 )) rounds (may grow $limit);" \
		"SUnreclaim ${SLAB[0]#* } -> ${SLAB[-1]#* } KiB"
fi

# --- 3. rdma link delete under traffic ----------------------------------------------

for ((i = 1; i <= rounds; i++)); do
	t0=$(now)
	if ! start_traffic "del$i"; then
		ok 1 "link delete round $i: no \"ready\" from the traffic"
		kill_wait "$TPID"
		continue
	fi
	nap 1
	n0=$(iters)
	# not under timeout(1): this is the process that blocks, watched here
	rdma link delete "$RXE_DEV" >"$TAP_TMP/delete.out" 2>&1 &
	dpid=$!
	PIDS+=("$dpid")
	# rxe has no disassociate_ucontext: the delete waits for the traffic
	nap 3
	dstate=$(pstate "$dpid")
	n1=$(iters)
	tap_diag "while the delete waits: rdma link show: $(timeout 10 rdma link show 2>&1 | oneline)"
	ok $(( n1 <= n0 )) "link delete round $i: the traffic goes on while the delete" \
		"waits ($n0 -> $n1 iterations in 3 s)"
	if [ "$dstate" = D ] || [ "$dstate" = S ]; then
		why=
	else
		why="it did not wait (state '$dstate'): $(oneline <"$TAP_TMP/delete.out")"
	fi
	result "$why" "link delete round $i: the delete waits while $RXE_DEV is open" \
		"(state $dstate, in $(cat "/proc/$dpid/wchan" 2>/dev/null))"
	[ -n "$why" ] || tap_diag "delete's stack: $(oneline '<' <"/proc/$dpid/stack" 2>/dev/null)"
	kill_wait "$TPID"
	kst=$?
	if secs=$(wait_until $T_DELETE gone "$dpid"); then
		dst=0
		wait "$dpid" || dst=$?
		why=
		[ $kst = 0 ] || why="the traffic did not exit"
		[ $dst = 0 ] || why="${why:+$why; }exit $dst: $(oneline <"$TAP_TMP/delete.out")"
		[ ! -e "/sys/class/infiniband/$RXE_DEV" ] || why="${why:+$why; }$RXE_DEV still there"
		result "$why" "link delete round $i: the delete returns $secs s after the" \
			"traffic is killed (gone in ${KILL_SECS:-?} s), $RXE_DEV gone"
	else
		ok 1 "link delete round $i: still running $T_DELETE s after the traffic was killed"
		proc_report "$dpid"
		tap_bail "rdma link delete hangs: $RXE_DEV is stuck"
	fi
	t1=$(now)
	why=
	link_add "$RXE_DEV" "$RXE_NETDEV" >"$TAP_TMP/add.out" 2>&1 ||
		why="rdma link add: $(oneline <"$TAP_TMP/add.out")"
	[ -n "$why" ] || wait_until $T_GID gids_are_base >/dev/null ||
		why="GID table differs: $(gid_table "$RXE_DEV" | oneline)"
	[ -n "$why" ] || wait_until $T_RES res_is_base >/dev/null || why="resources: $(res_diff)"
	[ -n "$why" ] || ref_is_base || why="rdma_rxe refcnt $(refcnt), baseline $BASE_REF"
	result "$why" "link delete round $i: $RXE_DEV re-created on $RXE_NETDEV with the same" \
		"GIDs and resources in $(since "$t1") s"
	[ -z "$why" ] || tap_bail "cannot go on without $RXE_DEV"
	data_test "$RXE_DEV"
	ok $? "link delete round $i: data test on the new $RXE_DEV (round took $(since "$t0") s)"
done

# --- 4. module unload and reload ------------------------------------------------------

# In use: the unload must be refused at once, and the traffic go on.
if start_traffic mod; then
	n0=$(iters)
	t0=$(now)
	st=0
	ref=$(refcnt)
	timeout $T_CMD modprobe -r rdma_rxe >"$TAP_TMP/rm.out" 2>&1 || st=$?
	secs=$(since "$t0")
	nap 2
	n1=$(iters)
	died=0
	gone "$TPID" && died=1
	ok $(( st == 0 || st == 124 || died || n1 <= n0 )) "modprobe -r rdma_rxe refused" \
		"while the device is open (refcnt $ref): exit $st in $secs s" \
		"($(oneline <"$TAP_TMP/rm.out")), traffic goes on ($n0 -> $n1 iterations)"
	kill_wait "$TPID"
	kst=$?
	secs=$(wait_until $T_RES ref_is_base)
	ok $(( $? || kst )) "refcnt back to $BASE_REF $secs s after the traffic was killed" \
		"(now $(refcnt))"
else
	ok 1 "modprobe -r while in use: no \"ready\" from the traffic"
	kill_wait "$TPID"
	tap_skip "no traffic" "refcnt back after the traffic"
fi

# reload HOW: "deleted" removes the links first, "present" leaves them to
# the module's exit (ib_unregister_driver unregisters its devices).
reload() {
	local how=$1 why="" t0
	t0=$(now)
	if [ "$how" = deleted ]; then
		delete_links >"$TAP_TMP/del.out" 2>&1 || why="link delete: $(oneline <"$TAP_TMP/del.out")"
		[ -n "$why" ] || [ -z "$(rxe_links)" ] || why="links left: $(rxe_links | oneline ,)"
	fi
	[ -n "$why" ] || timeout $T_CMD modprobe -r rdma_rxe >"$TAP_TMP/rm.out" 2>&1 ||
		why="modprobe -r: $(oneline <"$TAP_TMP/rm.out")"
	[ -n "$why" ] || [ ! -d /sys/module/rdma_rxe ] || why="rdma_rxe still loaded"
	[ -n "$why" ] || [ -z "$(rxe_links)" ] || why="links left after the unload: $(rxe_links | oneline ,)"
	result "$why" "unload with the links $how: rdma_rxe gone in $(since "$t0") s"
	[ -z "$why" ] || return 1
	tap_diag "modules without rdma_rxe: $(modules)"
	t0=$(now)
	timeout $T_CMD modprobe rdma_rxe >"$TAP_TMP/ins.out" 2>&1 ||
		why="modprobe: $(oneline <"$TAP_TMP/ins.out")"
	[ -n "$why" ] || restore_links >"$TAP_TMP/add.out" 2>&1 ||
		why="link add: $(oneline <"$TAP_TMP/add.out")"
	[ -n "$why" ] || [ "$(rxe_links)" = "$BASE_LINKS" ] || why="links: $(rxe_links | oneline ,)"
	[ -n "$why" ] || wait_until $T_GID gids_are_base >/dev/null || why="GID tables differ"
	[ -n "$why" ] || wait_until $T_RES res_is_base >/dev/null || why="resources: $(res_diff)"
	[ -n "$why" ] || ref_is_base || why="refcnt $(refcnt), baseline $BASE_REF"
	result "$why" "reload after the unload with the links $how: links, GID tables," \
		"resources and refcnt as at the start in $(since "$t0") s"
	[ -z "$why" ] || return 1
	data_test "$RXE_DEV"
	ok $? "data test on $RXE_DEV after the reload (links $how)"
}
reload deleted || tap_bail "rdma_rxe could not be reloaded"
reload present || tap_bail "rdma_rxe could not be reloaded"

# --- 5. as found ------------------------------------------------------------------

if [ "${RXE_VETH_OK:-0}" = 1 ]; then
	# the veth pair carries traffic again (the UDP/IP path, not loopback)
	timeout 60 ibv_rc_pingpong -d "$RXE_V1_DEV" -g "$RXE_V1_GID_INDEX" -p 18531 -n 20 -c \
		>"$TAP_TMP/pp-server.out" 2>&1 &
	spid=$!
	PIDS+=("$spid")
	st=1
	for ((k = 0; k < 20; k++)); do
		nap 0.5
		if timeout 60 ibv_rc_pingpong -d "$RXE_V0_DEV" -g "$RXE_V0_GID_INDEX" -p 18531 \
			-n 20 -c "$RXE_V1_IP" >"$TAP_TMP/pp-client.out" 2>&1; then
			st=0
			break
		fi
		grep -q "Couldn't connect" "$TAP_TMP/pp-client.out" || break
	done
	[ $st = 0 ] || kill "$spid" 2>/dev/null
	wait "$spid" || st=1
	tail -n 1 "$TAP_TMP/pp-client.out" | indent
	ok $st "ibv_rc_pingpong $RXE_V0_DEV -> $RXE_V1_DEV over the veth pair after the reloads"
fi
SLAB_END=$(slab_sample)
tap_diag "slab at the end (KiB, kmalloc and SUnreclaim): $SLAB_END (start $SLAB0)"
mods=$(modules)
why=
[ "$(rxe_links)" = "$BASE_LINKS" ] || why="links $(rxe_links | oneline ,)"
gids_are_base || why="${why:+$why; }GID tables differ"
res_is_base || why="${why:+$why; }resources: $(res_diff)"
ref_is_base || why="${why:+$why; }refcnt $(refcnt)"
[ "$mods" = "$BASE_MODS" ] || why="${why:+$why; }modules: $mods"
result "$why" "system as found: rxe links, GID tables, resources, refcnt and modules"
tap_exit
