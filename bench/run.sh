#!/usr/bin/env bash
# Runs cardagent-bench: SIGN through a live agent, through the agent's
# PKCS#11 module and through p11-kit's RPC (p11-kit-client.so against
# `p11-kit server`), against C_Sign called directly, on the same SoftHSM
# keys, in one run. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
. bench/lib.sh
via=(--via "$top/build-bench/lib/cardagent-pkcs11.so")
client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
if [ -e "$client" ]; then
	p11-kit server -f -n "$work/p11kit.sock" --provider "$FIXTURE_MODULE" \
	    "pkcs11:token=alice" >/dev/null 2>&1 &
	server=$!
	trap 'kill "$server" 2>/dev/null || true; bench_cleanup' EXIT
	for _ in $(seq 1 100); do
		[ -S "$work/p11kit.sock" ] && break
		sleep 0.05
	done
	export P11_KIT_SERVER_ADDRESS=unix:path=$work/p11kit.sock
	via+=(--via "$client")
fi
build-bench/bin/cardagent-bench --module "$FIXTURE_MODULE" --token alice \
    --pin "$FIXTURE_ALICE_PIN" --iterations "${ITERATIONS:-2000}" \
    --key rsa2048-sign --key p256-sign "${via[@]}"
echo
echo "$(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d), top: $top"
