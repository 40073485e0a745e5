#!/usr/bin/env bash
# Every benchmark of the project against its peers, in one run on the same
# SoftHSM keys (issue 7): builds the Release tree, makes the fixture tokens,
# starts an agent, sets up the peers (bench/peers.sh) and runs
# bench/report.py, which measures the agent's tables (cardagent-bench:
# direct C_Sign, the agent, cardagent-pkcs11.so, p11-kit's RPC) and the
# whole-process ones (bench/smime.py: openssl, gpgsm with
# gnupg-pkcs11-scd, openssl with libp11, NSS cmsutil) and regenerates the
# tables between the bench markers of docs/benchmarks.md.
#
# Usage: bench/all.sh [--no-write] [--only agent|smime]...
#   --no-write  print the tables, leave docs/benchmarks.md alone
#   --only      run these benchmarks only (their blocks alone are rewritten)
# About 4 minutes on 2 cores once built (agent 2.5, smime 1.5), a fresh
# build adds 1-2. To run longer, BENCH_SCALE=N multiplies every run count;
# AGENT_RUNS, ITERATIONS, SIGN_RUNS, FILE_RUNS and DECRYPT_RUNS set them
# one by one (defaults in bench/agent.py and bench/smime.py).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: $0 [--no-write] [--only agent|smime]..." >&2
	exit 2
}
# Options first: a typo must not cost a build.
args=()
only=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-write) args+=("$1") ;;
	--only)
		case ${2:-} in
		agent | smime) ;;
		*) usage ;;
		esac
		only+=("$2")
		args+=("$1" "$2")
		shift
		;;
	*) usage ;;
	esac
	shift
done
wants() {
	[ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]
}

. bench/lib.sh
. bench/peers.sh
agent_login >/dev/null
if wants agent; then
	p11kit_setup || echo "p11-kit RPC: $P11KIT_SKIP" >&2
fi
if wants smime; then
	gpgsm_setup || echo "gpgsm: $GPGSM_SKIP" >&2
	nss_setup || echo "NSS (SoftHSM): $NSS_SKIP" >&2
	[ -n "$NSS_AGENT_DB" ] || echo "NSS (cardagent-pkcs11.so): $NSS_AGENT_SKIP" >&2
fi
export P11KIT_CLIENT P11KIT_SKIP GPGSM_FPR GPGSM_SKIP NSS_DB NSS_SKIP \
    NSS_AGENT_DB NSS_AGENT_SKIP
# -B: report.py imports agent.py and smime.py; no __pycache__ in bench/.
TOP=$PWD BIN=$PWD/build-bench/bin PKI=$work/fx/pki WORK=$work \
    python3 -B bench/report.py "${args[@]}"
