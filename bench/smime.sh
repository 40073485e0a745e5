#!/usr/bin/env bash
# The whole-process S/MIME and file-signing benchmarks alone (against
# openssl with a key file, gpgsm with gnupg-pkcs11-scd, openssl with
# libp11's engine and NSS cmsutil): bench/all.sh with --only smime. Prints
# the tables; add --write to regenerate their block in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --write ]; then
	exec bash bench/all.sh --only smime
fi
exec bash bench/all.sh --only smime --no-write
