#!/usr/bin/env bash
# memcheck.sh: the integration tests with every agent, and its token hosts,
# under valgrind memcheck (CARDAGENT_MEMCHECK=1, see
# tests/integration/lib.sh): any memory error, or a definite or indirect
# leak that tests/valgrind.supp does not put down to a third-party
# library, fails the test that started the agent.
#
# valgrind cannot run ASan binaries, so this builds a tree of its own
# without sanitizers (MEMCHECK_BUILD_DIR, default build-memcheck).
# Arguments, if any, go to a single ctest run in their stead (e.g.
# -R integration.load).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
	    --no-install-recommends valgrind
fi

build=${MEMCHECK_BUILD_DIR:-build-memcheck}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCARDAGENT_WERROR=ON -DCARDAGENT_SANITIZE=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"

# Run with the agent alone under valgrind, not its token hosts:
#   watchdog  its token-timeout (2 s) is shorter than a token host takes
#             to start under valgrind, so every host would be "hung".
# Not run: the cards.* tests (root, namespaces, pcscd: tests/cards), and
# the tests that start no agent of the build tree: the unit tests, docs,
# and package and units (which run the installed .deb's binaries).
front='^integration\.(watchdog)$'
skip='^integration\.(watchdog|docs|package|units)$'

cd "$build"
start=$SECONDS
rc=0
: >memcheck.log
# run MODE CTEST_ARGS...: one ctest run, its output kept for the summary.
run() {
	local mode=$1
	shift
	CARDAGENT_MEMCHECK=$mode ctest --output-on-failure -j2 "$@" 2>&1 |
	    tee -a memcheck.log || rc=1
}
if [ $# -gt 0 ]; then
	run 1 "$@"
else
	run 1 -R '^(fixture|integration)\.' -E "$skip"
	run front -R "$front"
fi
echo "memcheck: the integration tests under valgrind took" \
    "$((SECONDS - start)) s"
# ctest's "N% tests passed, F tests failed out of T", added up.
awk '/tests failed out of/ { f += $4; t += $NF }
	END { printf "memcheck: %d passed, %d failed\n", t - f, f }' memcheck.log
exit $rc
