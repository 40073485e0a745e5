# lib.sh: what the bench scripts share: a Release build in build-bench,
# the SoftHSM fixture in a scratch directory ($work), and a running agent
# ($CARDAGENT_SOCK, $CARDAGENT_PID). Sourced from the repository's top.
# shellcheck shell=bash

bash scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCARDAGENT_TESTS=OFF >/dev/null
# -j2 at most: the machine is shared with whoever else builds on it.
cmake --build build-bench -j2 >/dev/null
work=$(mktemp -d)
bench_cleanup() {
	kill "${CARDAGENT_PID:-}" 2>/dev/null || true
	rm -rf "$work"
}
trap bench_cleanup EXIT
tests/fixtures/make-tokens.sh "$work/fx" >/dev/null
# shellcheck source=/dev/null
. "$work/fx/env.sh"
eval "$(build-bench/bin/cardagent --module "$FIXTURE_MODULE" \
    --socket "$work/agent.sock")" >/dev/null
