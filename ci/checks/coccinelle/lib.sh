# shellcheck shell=bash
# Shared by ci/checks/coccinelle/run and prime: spatch as scripts/coccicheck
# runs it (per-script Options:/Requires:), with the "odp-on" build's includes.
# Needs O (the odp-on build directory).  Source, do not execute.
export COCCI_INC="-I ./arch/x86/include -I $O/arch/x86/include/generated -I ./include -I $O/include -I ./arch/x86/include/uapi -I $O/arch/x86/include/generated/uapi -I ./include/uapi -I $O/include/generated/uapi --include ./include/linux/compiler-version.h --include ./include/linux/kconfig.h"
SPATCH_VERSION=$(spatch --version | head -1 | awk '{print $3}')
export SPATCH_VERSION
one_script() { # one_script COCCI FILE...   (cwd: the tree)
	local cocci=$1 opt req
	shift
	opt=$(grep "Options:" "$cocci" | cut -d':' -f2 || true)
	req=$(grep "Requires:" "$cocci" | cut -d':' -f2 | sed "s| ||" || true)
	if [ -n "$req" ] && ! { echo "$req"; echo "$SPATCH_VERSION"; } | sort -CV; then
		return 0
	fi
	# shellcheck disable=SC2086
	spatch -D report --no-show-diff --very-quiet --cocci-file "$cocci" $opt $COCCI_INC "$@" 2>/dev/null || true
}
export -f one_script
