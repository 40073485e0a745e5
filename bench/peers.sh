# peers.sh: the peers the benchmarks measure cardagent against, each set up
# on the fixture's SoftHSM token alice (shared/notes/peers.md says how each
# is set up by hand). Sourced after lib.sh, from the repository's top.
#
# Each *_setup function returns non-zero and leaves the reason in its
# *_SKIP variable when its peer cannot be had here: the tables then say
# "not measured (reason)" instead of the benchmark failing.
# shellcheck shell=bash
# The variables set here are read by all.sh, $work comes from lib.sh:
# shellcheck disable=SC2034,SC2154

P11KIT_CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
P11KIT_PID='' P11KIT_SKIP=''
GPGSM_FPR='' GPGSM_SKIP=''
NSS_DB='' NSS_AGENT_DB='' NSS_SKIP='' NSS_AGENT_SKIP=''
export GNUPGHOME=$work/gnupg

peers_cleanup() {
	if [ -n "$P11KIT_PID" ]; then
		kill "$P11KIT_PID" 2>/dev/null || true
	fi
	if [ -d "$GNUPGHOME" ]; then
		gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true
	fi
	bench_cleanup
}
trap peers_cleanup EXIT

# agent_login: alice logged in on the agent, as a user would be before
# signing (cardsign, and NSS through cardagent-pkcs11.so, then ask no PIN).
agent_login() {
	local tok
	tok=$(build-bench/bin/cardsign status --json | python3 -c '
import json, sys
print([t["id"] for t in json.load(sys.stdin) if t["label"] == "alice"][0])')
	echo "$FIXTURE_ALICE_PIN" |
	    build-bench/bin/cardsign login --token "$tok" --pin-stdin
}

# p11kit_setup: `p11-kit server` exporting alice, for p11-kit-client.so
# loaded into cardagent-bench (P11_KIT_SERVER_ADDRESS tells it where).
p11kit_setup() {
	[ -e "$P11KIT_CLIENT" ] ||
		{ P11KIT_SKIP="$P11KIT_CLIENT not installed (p11-kit-modules)"; return 1; }
	p11-kit server -f -n "$work/p11kit.sock" --provider "$FIXTURE_MODULE" \
	    "pkcs11:token=alice" >/dev/null 2>&1 &
	P11KIT_PID=$!
	for _ in $(seq 1 100); do
		[ -S "$work/p11kit.sock" ] && break
		sleep 0.05
	done
	[ -S "$work/p11kit.sock" ] ||
		{ P11KIT_SKIP="p11-kit server did not start"; return 1; }
	export P11_KIT_SERVER_ADDRESS=unix:path=$work/p11kit.sock
}

# gpgsm_setup: a private GNUPGHOME whose gpg-agent runs gnupg-pkcs11-scd on
# the same SoftHSM token. The agent asks the PIN through
# tests/fake-pinentry.sh, so FAKE_PINENTRY_PIN and SOFTHSM2_CONF must be in
# the environment before the first gpgsm call starts it. Sets GPGSM_FPR,
# the SHA-1 fingerprint of alice's rsa2048-sign certificate.
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

# nss_db DIR MODULE NAME: a private NSS database trusting the fixture's CA,
# with MODULE added under NAME, as a Thunderbird profile has.
nss_db() {
	mkdir "$1"
	certutil -N -d "sql:$1" --empty-password &&
	certutil -A -d "sql:$1" -n root -t C,C,C -i "$work/fx/pki/root.pem" &&
	certutil -A -d "sql:$1" -n intermediate -t ,, \
	    -i "$work/fx/pki/intermediate.pem" &&
	modutil -dbdir "sql:$1" -add "$3" -libfile "$2" -force >/dev/null
}

# nss_probe DB ARGS...: cmsutil signs a probe with alice's rsa2048-sign key
# through DB, and openssl finds the signature good.
nss_probe() {
	local db=$1
	shift
	printf 'nss probe\n' >"$work/nss-probe"
	cmsutil -S -d "$db" -N alice:rsa2048-sign -H SHA256 "$@" \
	    -i "$work/nss-probe" -o "$work/nss-probe.p7m" </dev/null >/dev/null 2>&1 &&
	openssl cms -verify -binary -inform DER -in "$work/nss-probe.p7m" \
	    -CAfile "$work/fx/pki/root.pem" -out /dev/null 2>/dev/null
}

# nss_setup: NSS's cmsutil with SoftHSM loaded (NSS_DB; PINs in
# $work/nss-pins), and with cardagent-pkcs11.so loaded (NSS_AGENT_DB), the
# way Thunderbird reaches a card through the agent.
nss_setup() {
	local t
	for t in certutil modutil cmsutil; do
		command -v "$t" >/dev/null ||
			{ NSS_SKIP="$t not installed (libnss3-tools)"; NSS_AGENT_SKIP=$NSS_SKIP; return 1; }
	done
	# One "token:PIN" line per token: NSS logs in to every token it looks
	# for a recipient's key on, and a single -p PIN would cost a failed
	# C_Login on bob in every decryption.
	printf 'alice:%s\nbob:%s\n' "$FIXTURE_ALICE_PIN" "$FIXTURE_BOB_PIN" \
	    >"$work/nss-pins"
	if nss_db "$work/nss" "$FIXTURE_MODULE" softhsm >/dev/null 2>&1 &&
	    nss_probe "sql:$work/nss" -f "$work/nss-pins"; then
		NSS_DB=sql:$work/nss
	else
		NSS_SKIP="cmsutil -S with SoftHSM added by modutil failed"
	fi
	# Through the agent's module, alice is logged in already (agent_login)
	# and her token has a protected authentication path: cmsutil needs -p
	# with any word (tests/integration/test_pkcs11_peers.sh).
	if nss_db "$work/nss-agent" "$PWD/build-bench/lib/cardagent-pkcs11.so" \
	    cardagent >/dev/null 2>&1 &&
	    nss_probe "sql:$work/nss-agent" -p unused; then
		NSS_AGENT_DB=sql:$work/nss-agent
	else
		NSS_AGENT_SKIP="cmsutil -S with cardagent-pkcs11.so added by modutil failed"
	fi
	[ -n "$NSS_DB" ]
}
