#!/usr/bin/env bash
# Whole-process S/MIME and file-signing benchmarks against their peers, in
# one run on the same SoftHSM keys: bench/smime.py prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
tok=$(build-bench/bin/cardsign status --json | python3 -c \
    'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["label"]=="alice"][0])')
echo "$FIXTURE_ALICE_PIN" | build-bench/bin/cardsign login --token "$tok" --pin-stdin

# gpgsm peer: a private GNUPGHOME whose gpg-agent runs gnupg-pkcs11-scd on
# the same SoftHSM token (shared/notes/peers.md). The agent asks the PIN
# through tests/fake-pinentry.sh, so FAKE_PINENTRY_PIN and SOFTHSM2_CONF
# must be in the environment before the first gpgsm call starts it.
# On failure GPGSM_SKIP holds the reason and smime.py prints it.
export GNUPGHOME=$work/gnupg
trap 'gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true
bench_cleanup' EXIT
GPGSM_FPR='' GPGSM_SKIP=''
gpgsm_setup() {
	local pki=$work/fx/pki fp
	command -v gpgsm >/dev/null || { GPGSM_SKIP="gpgsm not installed"; return 1; }
	[ -x /usr/bin/gnupg-pkcs11-scd ] || { GPGSM_SKIP="gnupg-pkcs11-scd not installed"; return 1; }
	mkdir -m 700 "$GNUPGHOME"
	printf '%s\n' "$FIXTURE_ALICE_PIN" >"$work/gpg-pin"
	export FAKE_PINENTRY_PIN=$work/gpg-pin SOFTHSM2_CONF
	cat >"$GNUPGHOME/gpg-agent.conf" <<-CONF
	scdaemon-program /usr/bin/gnupg-pkcs11-scd
	pinentry-program $PWD/tests/fake-pinentry.sh
	CONF
	cat >"$GNUPGHOME/gnupg-pkcs11-scd.conf" <<-CONF
	providers p1
	provider-p1-library $FIXTURE_MODULE
	CONF
	printf 'disable-crl-checks\ndisable-policy-checks\n' >"$GNUPGHOME/gpgsm.conf"
	gpgsm --batch --import "$pki/root.pem" "$pki/intermediate.pem" 2>/dev/null ||
		{ GPGSM_SKIP="gpgsm --import of the CA certs failed"; return 1; }
	fp=$(openssl x509 -in "$pki/root.pem" -noout -fingerprint -sha1 | cut -d= -f2)
	echo "$fp S" >"$GNUPGHOME/trustlist.txt"
	gpgsm --batch --learn-card >/dev/null 2>&1 ||
		{ GPGSM_SKIP="gpgsm --learn-card failed (gnupg-pkcs11-scd)"; return 1; }
	fp=$(openssl x509 -in "$pki/alice-rsa2048-sign.pem" -noout -fingerprint -sha1 |
		cut -d= -f2 | tr -d :)
	# Warm the agent (scd start, token login through the pinentry) and
	# check that one signature is real.
	head -c 1024 /dev/urandom >"$work/gpgsm-probe"
	gpgsm --batch -u "0x$fp" -b "$work/gpgsm-probe" >"$work/gpgsm-probe.sig" 2>/dev/null ||
		{ GPGSM_SKIP="gpgsm -b with alice's rsa2048-sign key failed"; return 1; }
	gpgsm --batch --verify "$work/gpgsm-probe.sig" "$work/gpgsm-probe" >/dev/null 2>&1 ||
		{ GPGSM_SKIP="gpgsm --verify of its own signature failed"; return 1; }
	GPGSM_FPR=$fp
}
gpgsm_setup || echo "gpgsm setup: $GPGSM_SKIP" >&2
export GPGSM_FPR GPGSM_SKIP

BIN=$PWD/build-bench/bin PKI=$work/fx/pki WORK=$work python3 bench/smime.py
