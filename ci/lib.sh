# shellcheck shell=bash
# Common code of the per-patch checks.  Source, do not execute.
#
# Contract of every ci/checks/<name>/run (NIPA style):
#   run (no argument; ci/build-w1 takes CONFIG) with the environment
#     BEFORE  git revision of the tree before the patch
#     AFTER   git revision with the patch applied
#     OUT     directory for this check's logs and summary (created)
#   exit 0 = pass, 250 = warn, anything else = fail; OUT/summary holds a
#   one-line human summary.  The tree (work/linux) is left at AFTER.
# Its directory also holds its info and fixture (ci/README.md).
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
: "${BEFORE:?BEFORE not set}" "${AFTER:?AFTER not set}" "${OUT:?OUT not set}"
mkdir -p "$OUT"
PASS=0 WARN=250 FAIL=1

finish() { # finish STATUS MESSAGE
	printf '%s\n' "$2" >"$OUT/summary"
	printf '%s\n' "$2" >&2
	exit "$1"
}

checkout() { git -C "$TREE" checkout -q --detach -f "$1"; }

# files the patch touches (added or modified), relative to the tree
touched_files() {
	git -C "$TREE" diff --name-only --diff-filter=AM "$BEFORE" "$AFTER"
}

# normalise compiler/sparse warnings so that line moves do not count:
# "path:LINE:COL: warning: text" -> "path: warning: text"
normalise() {
	grep -E '^[^ ]+:[0-9]+(:[0-9]+)?: (warning|error|note|info): ' |
		grep -v ': note: ' |
		sed -E -e 's/^([^ :]+):[0-9]+(:[0-9]+)?: /\1: /' \
			-e 's/frame size of [0-9]+ bytes/frame size of N bytes/' | sort
}

# compare before/after lists; writes OUT/new, returns count of new lines
new_lines() { # new_lines BEFORE-FILE AFTER-FILE
	comm -13 <(sort "$1") <(sort "$2") >"$OUT/new"
	wc -l <"$OUT/new"
}
