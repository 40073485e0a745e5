#!/usr/bin/env bash
# Whole-process S/MIME and file-signing benchmarks against their peers, in
# one run on the same SoftHSM keys: bench/smime.py prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
tok=$(build-bench/bin/cardsign status --json | python3 -c \
    'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["label"]=="alice"][0])')
echo "$FIXTURE_ALICE_PIN" | build-bench/bin/cardsign login --token "$tok" --pin-stdin
BIN=$PWD/build-bench/bin PKI=$work/fx/pki WORK=$work python3 bench/smime.py
