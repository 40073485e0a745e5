#!/usr/bin/env bash
# Runs cardagent-bench: SIGN through a live agent against C_Sign called
# directly, on the same SoftHSM keys, in one run. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

bash scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCARDAGENT_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
work=$(mktemp -d)
trap 'kill "${CARDAGENT_PID:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
tests/fixtures/make-tokens.sh "$work/fx" >/dev/null
. "$work/fx/env.sh"
eval "$(build-bench/bin/cardagent --module "$FIXTURE_MODULE" \
    --socket "$work/agent.sock")" >/dev/null
build-bench/bin/cardagent-bench --module "$FIXTURE_MODULE" --token alice \
    --pin "$FIXTURE_ALICE_PIN" --iterations "${ITERATIONS:-2000}" \
    --key rsa2048-sign --key p256-sign
echo
echo "$(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d), top: $top"
