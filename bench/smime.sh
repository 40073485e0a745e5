#!/usr/bin/env bash
# Whole-process S/MIME and file-signing benchmarks against their peers, in
# one run on the same SoftHSM keys: bench/smime.py prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCARDAGENT_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
work=$(mktemp -d)
trap 'kill "${CARDAGENT_PID:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
tests/fixtures/make-tokens.sh "$work/fx" >/dev/null
. "$work/fx/env.sh"
eval "$(build-bench/bin/cardagent --module "$FIXTURE_MODULE" \
    --socket "$work/agent.sock")" >/dev/null
tok=$(build-bench/bin/cardsign status --json | python3 -c \
    'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["label"]=="alice"][0])')
echo "$FIXTURE_ALICE_PIN" | build-bench/bin/cardsign login --token "$tok" --pin-stdin
BIN=$PWD/build-bench/bin PKI=$work/fx/pki WORK=$work python3 bench/smime.py
