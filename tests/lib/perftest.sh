# shellcheck shell=bash
# perftest plumbing shared by the perftest and bench tiers: a server and a
# client of one perftest tool on this machine, and the parsing of their
# result lines.  Source after common.sh, do not execute.
#
# Each pair gets its own TCP port, counting up from PT_PORT.  PT_PREFIX:
# a command both run under (e.g. chrt --idle 0), none by default.
PT_PORT=${PT_PORT:-18600}
PT_PREFIX=()

# pt_pair TOOL TIMEOUT SERVER-IP OUTBASE ARGS...: run TOOL ARGS as the
# server, then TOOL ARGS SERVER-IP as the client (retried while the server
# does not listen yet), each under `timeout TIMEOUT`.  Their outputs go to
# OUTBASE-server.txt and OUTBASE-client.txt.  Sets PT_SST (the server's
# exit status), PT_CST (the client's), PT_ERR (the first two error lines of
# either, or nothing).
pt_pair() {
	local tool=$1 tmo=$2 ip=$3 base=$4 spid i
	shift 4
	local args=("$@" -p "$PT_PORT")
	PT_PORT=$((PT_PORT + 1))
	PT_SST=0 PT_CST=1 PT_ERR=
	timeout -k 5 "$tmo" "${PT_PREFIX[@]}" "$tool" "${args[@]}" >"$base-server.txt" 2>&1 &
	spid=$!
	for i in $(seq 20); do	# until the server listens
		sleep 0.5
		if timeout -k 5 "$tmo" "${PT_PREFIX[@]}" "$tool" "${args[@]}" "$ip" >"$base-client.txt" 2>&1; then
			PT_CST=0
			break
		else
			PT_CST=$?
		fi
		grep -q "Couldn't connect" "$base-client.txt" || break
	done
	[ $PT_CST -eq 0 ] || kill "$spid" 2>/dev/null || true
	wait "$spid" || PT_SST=$?
	PT_ERR=$(grep -ihE "error|failed|couldn't|unable|timed out" "$base-client.txt" "$base-server.txt" |
		head -n 2 | tr '\n' ' ' || true)
}

# pt_bw_avg FILE: the BW average of a bandwidth tool's result line
# (#bytes #iterations BW-peak BW-average MsgRate), in the unit of its
# header (MiB/s, "MB/sec", unless --report_gbits); nothing if none.
pt_bw_avg() {
	awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && NF >= 5 && $4 ~ /^[0-9.]+$/ { bw = $4 } END { print bw }' "$1"
}

# pt_lat FILE: "T_TYPICAL T_AVG" (usec) of a latency tool's result line,
# found by the names in its header line (#bytes #iterations t_min[usec]
# t_max[usec] t_typical[usec] t_avg[usec] ...); nothing if none.
pt_lat() {
	awk '$1 == "#bytes" { hdr = 1; ty = av = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^t_typical/) ty = i
				if ($i ~ /^t_avg/) av = i
			}
			next }
		hdr && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && ty && av && $ty ~ /^[0-9.]+$/ && $av ~ /^[0-9.]+$/ {
			r = $ty " " $av }
		END { print r }' "$1"
}
