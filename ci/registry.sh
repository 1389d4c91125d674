# shellcheck shell=bash
# The check registry, shared by ci/run-checks, ci/selftest and
# ci/list-checks.  Source, do not execute (after scripts/lib.sh).
#
# One directory per check: ci/checks/<name>/ (per-patch checks) and
# ci/series/<name>/ (series checks), each holding
#   run      the check (contracts: ci/lib.sh, ci/series.sh)
#   info     key=value lines, "#" comments; a value is the rest of its
#            line, verbatim (no quoting; an ERE may hold spaces)
#   fixture  what ci/selftest feeds the check (named by info)
# Keys of info (ci/README.md has the full text):
#   runs_on         per-patch (ci/checks) or series (ci/series)
#   tier            ci (run by CI) or full (ci/run-checks --full only)
#   order           integer, sort key (then the name); default 50
#   fixture         a patch (per-patch) or a directory holding series,
#                   patches/ and maybe mutants/ (series), relative to the
#                   check's directory
#   fixture_status  fail or warn: what the check must report on it
#   fixture_expect  ERE its summary, stdout or stderr must match on it
#   slow            yes: builds a kernel (ci/selftest --quick skips it)
#   prime           per-patch: a program of the directory that run-checks
#                   runs once with every commit of the series first
#   when            series: before or after the per-patch checks
#   always          series, yes: runs even when --only names other checks
#   needs           series: checks that must pass first (run-checks skips
#                   this one otherwise; the selftest runs them first)

REGISTRY_KEYS="runs_on tier order fixture fixture_status fixture_expect slow prime when always needs"

# the registry directory of a kind: checks or series
registry_root() { echo "$TOP/ci/$1"; }

# info_get INFO KEY [DEFAULT]: the value of KEY (the last line naming it)
info_get() {
	local v
	v=$(awk -v k="$2" '
		/^[[:space:]]*(#|$)/ { next }
		{ i = index($0, "="); if (i && substr($0, 1, i - 1) == k) { v = substr($0, i + 1); f = 1 } }
		END { if (f) print v; else exit 1 }' "$1") || { printf '%s' "${3:-}"; return 0; }
	printf '%s' "$v"
}

# registry_names KIND [TIER]: the checks of KIND that have an info file,
# sorted by order, then name; TIER ci leaves out the full-tier ones
registry_names() {
	local kind=$1 tier=${2:-full} root d n
	root=$(registry_root "$kind")
	for d in "$root"/*/; do
		[ -f "$d/info" ] || continue
		n=$(basename "$d")
		[ "$tier" = full ] || [ "$(info_get "$d/info" tier)" = ci ] || continue
		printf '%s\t%s\n' "$(info_get "$d/info" order 50)" "$n"
	done | sort -t$'\t' -k1,1n -k2,2 | cut -f2
}

# runs_first DIR-A DIR-B: does series check A run before B in ci/run-checks?
runs_first() {
	local wa wb
	wa=$(info_get "$1/info" when) wb=$(info_get "$2/info" when)
	[ "$wa" = "$wb" ] || { [ "$wa" = before ] && [ "$wb" = after ]; return; }
	[ "$(printf '%s\t%s\n' "$(info_get "$1/info" order 50)" "$(basename "$1")" \
		"$(info_get "$2/info" order 50)" "$(basename "$2")" |
		sort -t$'\t' -k1,1n -k2,2 | sed -n '1s/^[^\t]*\t//p')" = "$(basename "$1")" ]
}

# registry_lint KIND [ROOT]: one line per problem of the registry of KIND
# (ROOT: another directory laid out the same way, for the selftest of
# this function); prints nothing when every check can be run and tested
registry_lint() {
	local kind=$1 root=${2:-$(registry_root "$1")} d n info k v fx want
	case "$kind" in checks) want=per-patch ;; series) want=series ;; *) echo "unknown kind $kind"; return ;; esac
	for d in "$root"/*/; do
		[ -d "$d" ] || continue
		d=${d%/} n=$(basename "$d") info=$d/info
		if [ ! -f "$info" ]; then
			echo "$kind/$n: no info file (a check is a directory with run, info and its fixture)"
			continue
		fi
		[ -x "$d/run" ] || echo "$kind/$n: no executable run"
		while IFS= read -r k; do
			[[ " $REGISTRY_KEYS " == *" $k "* ]] || echo "$kind/$n: unknown key '$k' in info"
		done < <(awk '/^[[:space:]]*(#|$)/ { next } { i = index($0, "="); print (i ? substr($0, 1, i - 1) : $0) }' "$info")
		[ "$(info_get "$info" runs_on)" = "$want" ] ||
			echo "$kind/$n: runs_on must be $want (it is '$(info_get "$info" runs_on)')"
		case "$(info_get "$info" tier)" in ci|full) ;; *) echo "$kind/$n: tier must be ci or full" ;; esac
		v=$(info_get "$info" order 50)
		[[ $v =~ ^[0-9]+$ ]] || echo "$kind/$n: order must be an integer (it is '$v')"
		fx=$(info_get "$info" fixture)
		if [ -z "$fx" ]; then
			echo "$kind/$n: no fixture in info (what must the check catch?)"
		elif [ "$kind" = checks ] && [ ! -f "$d/$fx" ]; then
			echo "$kind/$n: fixture $fx is not a file"
		elif [ "$kind" = series ] && [ ! -f "$d/$fx/series" ]; then
			echo "$kind/$n: fixture $fx is not a directory holding a series file"
		fi
		case "$(info_get "$info" fixture_status)" in fail|warn) ;; *) echo "$kind/$n: fixture_status must be fail or warn" ;; esac
		[ -n "$(info_get "$info" fixture_expect)" ] || echo "$kind/$n: no fixture_expect (the pattern its report must hold)"
		case "$(info_get "$info" slow no)" in yes|no) ;; *) echo "$kind/$n: slow must be yes or no" ;; esac
		v=$(info_get "$info" prime)
		if [ -n "$v" ]; then
			[ "$kind" = checks ] || echo "$kind/$n: prime is for per-patch checks"
			[ -x "$d/$v" ] || echo "$kind/$n: prime program $v is not executable"
		fi
		if [ "$kind" = series ]; then
			case "$(info_get "$info" when)" in before|after) ;; *) echo "$kind/$n: when must be before or after" ;; esac
			case "$(info_get "$info" always no)" in yes|no) ;; *) echo "$kind/$n: always must be yes or no" ;; esac
			for v in $(info_get "$info" needs); do
				if [ ! -f "$root/$v/info" ]; then
					echo "$kind/$n: needs $v, which is not a series check"
				elif ! runs_first "$root/$v" "$d"; then
					echo "$kind/$n: needs $v, which does not run before it (when, order)"
				fi
			done
		else
			for k in when always needs; do
				[ -z "$(info_get "$info" $k)" ] || echo "$kind/$n: $k is for series checks"
			done
		fi
	done
}
