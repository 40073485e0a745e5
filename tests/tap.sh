# shellcheck shell=bash
# tap.sh: the checks every shell test reports with, one "ok - ..." or
# "FAIL - ..." line each. The sourcing test sets T, a private directory.
npass=0
nfail=0

pass() { npass=$((npass + 1)); echo "ok - $*"; }
failed() { nfail=$((nfail + 1)); echo "FAIL - $*"; }

# check DESC CMD...: CMD must succeed. Its output goes to $T/check.out, so
# that a check may inspect $T/out, the output of the last expect_exit.
check() {
	local d=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then
		pass "$d"
	else
		failed "$d (exit $?)"
		sed 's/^/    /' "$T/check.out"
	fi
}

# expect_exit N DESC CMD...: CMD must exit with status N; its output is
# left in $T/out.
expect_exit() {
	local want=$1 d=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>&1 || rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$d"
	else
		failed "$d (exit $rc, wanted $want)"
		sed 's/^/    /' "$T/out"
	fi
}
