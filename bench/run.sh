#!/usr/bin/env bash
# Runs cardagent-bench: SIGN through a live agent against C_Sign called
# directly, on the same SoftHSM keys, in one run. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
. bench/lib.sh
build-bench/bin/cardagent-bench --module "$FIXTURE_MODULE" --token alice \
    --pin "$FIXTURE_ALICE_PIN" --iterations "${ITERATIONS:-2000}" \
    --key rsa2048-sign --key p256-sign
echo
echo "$(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d), top: $top"
