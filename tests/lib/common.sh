# shellcheck shell=bash
# Helpers for the test tiers (tests/tiers/*).  Source, do not execute.
#
# A tier records each test with t_result; the records are JSON lines in
# $TESTS_JSONL: {"tier","name","status","duration","detail"}, status one of
# pass, fail, skip, xfail.
set -euo pipefail

TESTS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOP=$(cd "$TESTS_TOP/.." && pwd)
: "${TESTS_JSONL:?TESTS_JSONL not set (tiers are run by tests/run)}"
: "${TESTS_RESULTS:?TESTS_RESULTS not set (tiers are run by tests/run)}"
TIER=${TIER:-$(basename "$0")}
RXE_DEV=${RXE_DEV:-rxe0}

now() { date +%s.%N; }
# elapsed T0: seconds since T0, 2 decimals
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
tlog() { printf '%s: %s\n' "$TIER" "$*"; }

# t_result NAME STATUS DURATION DETAIL
t_result() {
	local name=$1 st=$2 dur=$3 detail=${4:-}
	case "$st" in pass|fail|skip|xfail) ;; *) st=fail detail="bad status '$2': $detail" ;; esac
	jq -nc --arg tier "$TIER" --arg name "$name" --arg st "$st" \
		--argjson dur "${dur:-0}" --arg detail "$detail" \
		'{tier:$tier, name:$name, status:$st, duration:$dur, detail:$detail}' >>"$TESTS_JSONL"
	printf '%-5s %s/%s (%ss)%s\n' "${st^^}" "$TIER" "$name" "$dur" "${detail:+: $detail}"
}

# The RoCE v2 GID index of $RXE_DEV, from vm-init or looked up here.
rxe_gid_index() {
	if [ -n "${RXE_GID_INDEX:-}" ]; then echo "$RXE_GID_INDEX"; return; fi
	local i
	for i in $(seq 0 15); do
		[ "$(cat "/sys/class/infiniband/$RXE_DEV/ports/1/gid_attrs/types/$i" 2>/dev/null)" = "RoCE v2" ] || continue
		case "$(cat "/sys/class/infiniband/$RXE_DEV/ports/1/gids/$i")" in
		0000:0000:0000:0000:0000:ffff:*) echo "$i"; return ;;
		esac
	done
	return 1
}

# The device's IPv4 address (the servers' address for the clients).
rxe_ip() {
	if [ -n "${RXE_IP:-}" ]; then echo "$RXE_IP"; return; fi
	local nd
	nd=$(cat "/sys/class/infiniband/$RXE_DEV/ports/1/gid_attrs/ndevs/$(rxe_gid_index)")
	ip -4 -o addr show dev "$nd" | awk '{ sub("/.*", "", $4); print $4; exit }'
}

# odp_rc_caps: the RC ODP capabilities that `ibv_devinfo -v` shows for
# $RXE_DEV, space separated (e.g. "SUPPORT_SEND SUPPORT_RECV ..."), or
# nothing when there are none (general_odp_caps lacks ODP_SUPPORT, or
# rc_odp_caps says NO SUPPORT).
odp_rc_caps() {
	ibv_devinfo -v -d "$RXE_DEV" | tr -d '\t' | awk '
		/^general_odp_caps:/ { sec = "gen"; next }
		/^rc_odp_caps:/ { sec = "rc"; next }
		/_caps:|:/ { sec = ""; next }
		sec == "gen" && $0 == "ODP_SUPPORT" { gen = 1 }
		sec == "rc" && /^SUPPORT_/ { rc = rc " " $0 }
		END { if (gen && rc != "") print substr(rc, 2) }'
}
