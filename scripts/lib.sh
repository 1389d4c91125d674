# shellcheck shell=bash
# Common helpers for the rxe-odp scripts.  Source, do not execute.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${RXE_ODP_WORK:-$TOP/work}
# the reference tree and the build directories (overridable: scripts/test
# builds the test kernel in a second tree while the checks use the first)
TREE=${RXE_ODP_TREE:-$WORK/linux}
BUILDS=${RXE_ODP_BUILDS:-$WORK/build}
RESULTS=${RXE_ODP_RESULTS:-$TOP/results}
# the series and its patches (overridable, e.g. by the check selftest)
SERIES=${RXE_ODP_SERIES:-$TOP/series}
PATCHES=${RXE_ODP_PATCHES:-$TOP/patches}
# shellcheck source=../reference.conf
. "$TOP/reference.conf"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Quilt always runs with the repository's own quiltrc, so that a user's
# ~/.quiltrc changes nothing, on the top-level series and patches/.
rq() {
	QUILT_PATCHES=patches QUILT_SERIES="$SERIES" \
		QUILT_PC=.pc quilt --quiltrc "$TOP/quiltrc" "$@"
}

# The patches named by the series file, in order, comments skipped.
series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SERIES" | awk '{print $1}'
}

# The series has two sections, each opened by a marker comment: "#: fixes"
# (standalone fixes of bugs rxe or the core already has, placed first so
# that each applies on the reference alone and can be sent on its own, for
# the -rc branch) and "#: odp" (the feature, for for-next).  series_section
# fixes|odp prints the patches of one section; a patch before any marker
# belongs to none (ci/run-checks reports it).
series_section() {
	awk -v want="$1" '
		/^#: / { sec = $2; next }
		/^[[:space:]]*(#|$)/ { next }
		sec == want { print $1 }
	' "$SERIES"
}

need_tree() {
	git -C "$TREE" rev-parse -q --verify refs/tags/baseline >/dev/null 2>&1 ||
		die "no reference tree in $TREE: run scripts/prepare-kernel first"
}

# The branch scripts/apply --commit makes in the reference tree: under a
# prefix of the tool's own, never a branch of the user's
SERIES_BRANCH=rxe-odp/series

nproc_jobs() { nproc 2>/dev/null || echo 2; }

# Output directories the tools wipe and refill (--out, --results,
# --extract).  check_out_dir DIR prints DIR's absolute path, or dies,
# before any work is done, if deleting it could cost data: /, $HOME, the
# repository or a directory holding it, a top-level directory (/usr,
# /tmp), something that is not a directory, or a directory with content
# that this tool did not make (no .rxe-odp-output marker, and not under
# the tool's own results/ or work/).  out_dir DIR checks the same, then
# empties DIR and marks it as the tool's.
RXE_ODP_MARKER=.rxe-odp-output
check_out_dir() {
	local d home
	d=$(realpath -m -- "$1")
	home=$(realpath -m -- "${HOME:-/root}")
	case "$d" in
	/|/*/) die "refusing to use $1 as an output directory: it is /" ;;
	esac
	[ "$d" != "$home" ] || die "refusing to use $1 as an output directory: it is your home directory"
	case "$TOP/" in "$d"/*) die "refusing to use $1 as an output directory: it holds the repository $TOP" ;; esac
	[ "$(dirname "$d")" != / ] || die "refusing to use $1 as an output directory: a top-level directory"
	if [ -e "$d" ] && [ ! -d "$d" ]; then
		die "refusing to use $1 as an output directory: it exists and is not a directory"
	fi
	if [ -d "$d" ] && [ -n "$(ls -A "$d")" ] && [ ! -e "$d/$RXE_ODP_MARKER" ]; then
		case "$d/" in
		"$(realpath -m "$RESULTS")"/*|"$(realpath -m "$WORK")"/*) ;;
		*) die "refusing to empty $1: it holds files this tool did not make (no $RXE_ODP_MARKER in it); give an empty or new directory" ;;
		esac
	fi
	echo "$d"
}
out_dir() {
	local d
	d=$(check_out_dir "$1") || exit 1
	rm -rf "$d"
	mkdir -p "$d"
	echo "made by rxe-odp's $(basename "$0"); emptied by its next run" >"$d/$RXE_ODP_MARKER"
	echo "$d"
}

# One run at a time per clone: the scripts that change work/ (the trees,
# the builds) or results/ take $WORK/.lock (flock) first; a second run
# fails at once with a clear message instead of racing the first on the
# same tree and build directories.  The scripts a holder runs inherit the
# lock (RXE_ODP_LOCK_HELD).
lock_work() {
	[ -z "${RXE_ODP_LOCK_HELD:-}" ] || return 0
	mkdir -p "$WORK"
	exec {RXE_ODP_LOCK_FD}>>"$WORK/.lock"
	if ! flock -n "$RXE_ODP_LOCK_FD"; then
		die "another run uses this clone ($WORK/.lock is held by: $(cat "$WORK/.lock.owner" 2>/dev/null || echo unknown)); wait for it to end, or work in another clone"
	fi
	printf 'pid %s, %s, since %s\n' "$$" "$(basename "$0")" "$(date '+%F %T')" >"$WORK/.lock.owner"
	export RXE_ODP_LOCK_HELD=$$
}

# print the comment block at the top of the calling script (its usage)
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# archive_versions PKG: the versions of PKG the archive serves (apt's
# package lists), one per line.
archive_versions() {
	apt-cache madison "$1" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }'
}

# own_changes: the paths of $TREE that differ from what the baseline plus
# the quilt patches applied there (.pc/applied-patches) give, untracked
# files included: the work of a user that a reset would lose.  Prints one
# path per line (nothing: the tree is the tool's own state); returns 1 if
# the applied patches cannot be replayed.
own_changes() {
	local idx p paths rc=0
	idx=$(mktemp)
	GIT_INDEX_FILE=$idx git -C "$TREE" read-tree baseline || { rm -f "$idx"; return 1; }
	if [ -s "$TREE/.pc/applied-patches" ]; then
		while read -r p; do
			[ -n "$p" ] || continue
			GIT_INDEX_FILE=$idx git -C "$TREE" apply --cached -p1 "$TREE/patches/$p" 2>/dev/null || {
				echo "cannot replay applied patch $p"
				rm -f "$idx"
				return 1
			}
		done <"$TREE/.pc/applied-patches"
	fi
	# the candidates (cheap, the real index's stat data), then each compared
	# with the expected content
	paths=$( {
		git -C "$TREE" diff --name-only baseline HEAD
		git -C "$TREE" diff --name-only HEAD
		GIT_INDEX_FILE=$idx git -C "$TREE" diff --name-only --cached baseline
	} | sort -u)
	{
		[ -z "$paths" ] || printf '%s\n' "$paths" | tr '\n' '\0' |
			GIT_INDEX_FILE=$idx xargs -0 git -C "$TREE" diff --name-only --no-renames --
		# not --exclude-standard: Debian's tree ignores "/*" (its
		# .gitignore), and nothing is built inside the tree (O=)
		GIT_INDEX_FILE=$idx git -C "$TREE" ls-files --others \
			--exclude-from="$(git -C "$TREE" rev-parse --path-format=absolute --git-path info/exclude)"
	} | sort -u || rc=1
	rm -f "$idx"
	return $rc
}
