#!/usr/bin/env bash
# The agent's benchmarks alone (cardagent-bench: SIGN through a live agent,
# through the agent's PKCS#11 module and through p11-kit's RPC, against
# C_Sign called directly, on the same SoftHSM keys): bench/all.sh with
# --only agent. Prints the tables; add --write to regenerate their blocks
# in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --write ]; then
	exec bash bench/all.sh --only agent
fi
exec bash bench/all.sh --only agent --no-write
