# shellcheck shell=bash
# Common code of the series checks.  Source, do not execute.
#
# Contract of every ci/series/<name>/run:
#   run with the environment
#     OUT     directory for this check's logs and summary (created)
#   and the series of scripts/lib.sh: $SERIES, $PATCHES (RXE_ODP_SERIES,
#   RXE_ODP_PATCHES), the mutants in $MUTANTS (RXE_ODP_MUTANTS, default
#   tests/mutants); the reference tree $TREE at any state.
#   exit 0 = pass, 250 = warn, anything else = fail; OUT/summary holds a
#   one-line human summary; what the check found goes to stderr.  A check
#   with nothing to check (no fix, no mutant, an empty series) says so
#   with nothing_to_check: exit 0 and OUT/none, and ci/run-checks records
#   no row for it (a pass would count a check that did not run).
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
: "${OUT:?OUT not set}"
mkdir -p "$OUT"
# shellcheck disable=SC2034	# for the run programs that source this
MUTANTS=${RXE_ODP_MUTANTS:-$TOP/tests/mutants} PASS=0 WARN=250 FAIL=1

finish() { # finish STATUS MESSAGE
	printf '%s\n' "$2" >"$OUT/summary"
	printf '%s\n' "$2" >&2
	exit "$1"
}

nothing_to_check() { # nothing_to_check MESSAGE
	printf '%s\n' "$1" >"$OUT/none"
	printf '%s\n' "$1" >&2
	exit 0
}
