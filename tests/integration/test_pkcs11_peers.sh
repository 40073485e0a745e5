#!/usr/bin/env bash
# The PKCS#11 module (build/lib/cardagent-pkcs11.so) in the programs that
# load PKCS#11 modules for real: NSS (certutil, cmsutil: what Firefox and
# Thunderbird use), OpenSSL through libp11's pkcs11 engine, and OpenSSH
# (ssh-keygen -D, ssh-agent and ssh-add -s, ssh-keygen -Y sign). What they
# sign is checked with openssl and ssh-keygen -Y verify against the
# fixture's certificates and keys; what they decrypt, against the message.
#
# Logging in: the module's tokens have a protected authentication path, so
# a C_Login without a PIN has the agent ask through pinentry (here the fake
# one, which counts its prompts). NSS calls its password callback first and
# then, seeing the protected path, C_Login without a PIN: cmsutil needs -p
# with any word for that. ssh-pkcs11-helper refuses an empty PIN before
# calling C_Login, so ssh-add -s is given the PIN through SSH_ASKPASS.
. "$(dirname "$0")/lib.sh"

: "${CARDAGENT_LIB:?}"
MOD=$CARDAGENT_LIB/cardagent-pkcs11.so
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
for tool in certutil modutil cmsutil ssh-keygen ssh-agent ssh-add; do
	if ! command -v "$tool" >/dev/null; then
		echo "FAIL - $tool not installed (run scripts/install-deps.sh)"
		exit 1
	fi
done

# A private ssh-agent: stop it on every way out.
SSH_AGENT=
ssh_stop() {
	if [ -n "$SSH_AGENT" ]; then
		kill "$SSH_AGENT" 2>/dev/null || true
		wait "$SSH_AGENT" 2>/dev/null || true
	fi
	SSH_AGENT=
}
# Then lib.sh's cleanup, which takes the exit status from $?. Under set -e
# a trap command that fails ends the shell, so no command here may fail:
# a failed run hands its status over in the || (cleanup exits with it).
on_exit() {
	local rc=$?
	ssh_stop
	(exit "$rc") || cleanup
	cleanup
}
trap on_exit EXIT

start_agent
set_pin "$FIXTURE_ALICE_PIN"
alice_tok=$(token_id alice)
bob_tok=$(token_id bob)
# Peers log in to every token they look at (NSS looks for a recipient's
# key on all of them): bob is logged in with his own PIN, so that the fake
# pinentry is never asked for it and never gives him alice's.
printf '%s\n' "$FIXTURE_BOB_PIN" |
    cardsign login --token "$bob_tok" --pin-stdin
# logged_out: alice locked and no prompt counted yet.
logged_out() {
	cardsign lock --token "$alice_tok"
	: >"$FAKE_PINENTRY_LOG"
}
alice_in() {
	cardsign status --json | python3 -c '
import json, sys
sys.exit(not any(t["logged_in"] for t in json.load(sys.stdin)
    if t["id"] == sys.argv[1]))' "$alice_tok"
}

printf 'cardagent peers test message\n' >"$T/msg"
# ossl_verify SIG [ARGS]: openssl finds the DER CMS signature SIG good
# under the fixture's root, on $T/msg (ARGS: -content for a detached one).
ossl_verify() {
	local sig=$1
	shift
	openssl cms -verify -binary -inform DER -in "$sig" "$@" \
	    -CAfile "$PKI/root.pem" -out "$T/verified" &&
	    cmp "$T/verified" "$T/msg"
}
# encrypt_to CERT OUT: an openssl-made message to CERT, in DER.
encrypt_to() {
	openssl cms -encrypt -binary -aes-256-cbc -outform DER -in "$T/msg" \
	    -out "$2" "$1"
}

# ---- NSS ----

NSS=sql:$T/nss
mkdir "$T/nss"
check "NSS: a private database trusting the fixture's CA" bash -c "
    certutil -N -d $NSS --empty-password &&
    certutil -A -d $NSS -n root -t C,C,C -i $PKI/root.pem &&
    certutil -A -d $NSS -n intermediate -t ,, -i $PKI/intermediate.pem"
check "modutil adds the module" \
    modutil -dbdir "$NSS" -add cardagent -libfile "$MOD" -force
modutil -dbdir "$NSS" -list cardagent >"$T/modlist" 2>&1 || true
check "  which shows alice and bob as its tokens" bash -c "
    grep 'Token Name: alice *\$' $T/modlist >/dev/null &&
    grep 'Token Name: bob *\$' $T/modlist >/dev/null"
certutil -d "$NSS" -L -h all </dev/null >"$T/certs" 2>&1 || true
check "certutil -L -h all lists alice's 10 certificates" \
    test "$(grep -c '^alice:' "$T/certs")" -eq 10
check "  each with its private key (u,u,u)" \
    test "$(grep -c '^alice:.* u,u,u$' "$T/certs")" -eq 10
check "  by their labels" grep '^alice:rsa2048-sign  ' "$T/certs"

# nss_sign NICK OUT: cmsutil signs $T/msg (opaque) with NICK's key.
nss_sign() {
	cmsutil -S -d "$NSS" -N "$1" -H SHA256 -p unused -i "$T/msg" \
	    -o "$2" </dev/null
}
logged_out
check "cmsutil -S with alice:rsa2048-sign, logged out" \
    nss_sign alice:rsa2048-sign "$T/nss-rsa.p7m"
check "  the agent's pinentry asked once" test "$(prompts)" -eq 1
check "  openssl cms -verify finds it good" ossl_verify "$T/nss-rsa.p7m"
check "cmsutil -S with alice:p256-sign (ECDSA), logged in" \
    nss_sign alice:p256-sign "$T/nss-ec.p7m"
check "  without another prompt" test "$(prompts)" -eq 1
check "  openssl cms -verify finds it good" ossl_verify "$T/nss-ec.p7m"

encrypt_to "$PKI/alice-rsa2048-km.pem" "$T/to-km.p7m"
logged_out
check "cmsutil -D decrypts a message to alice's rsa2048-km" \
    cmsutil -D -d "$NSS" -p unused -i "$T/to-km.p7m" -o "$T/nss.dec" \
    </dev/null
check "  to the original" cmp "$T/nss.dec" "$T/msg"
check "  after one prompt" test "$(prompts)" -eq 1

# ---- OpenSSL through libp11's engine ----

# eng CMD ARGS: openssl CMD with alice's key KEY from the engine.
eng() {
	local cmd=$1
	shift
	PKCS11_MODULE_PATH=$MOD openssl "$cmd" -engine pkcs11 \
	    -keyform engine "$@" </dev/null
}
if [ ! -f "$ENGINE" ]; then
	failed "libp11's engine $ENGINE not installed (libengine-pkcs11-openssl)"
else
	logged_out
	for k in rsa2048-sign p256-sign; do
		check "engine: openssl cms -sign with $k" eng cms -sign \
		    -binary -inkey "pkcs11:token=alice;object=$k;type=private" \
		    -signer "$PKI/alice-$k.pem" -certfile "$PKI/intermediate.pem" \
		    -in "$T/msg" -outform DER -out "$T/eng-$k.p7s"
		check "  openssl cms -verify finds it good" \
		    ossl_verify "$T/eng-$k.p7s" -content "$T/msg"
	done
	check "  one prompt for both" test "$(prompts)" -eq 1
	logged_out
	check "engine: openssl cms -decrypt with rsa2048-km" eng cms \
	    -decrypt -binary -inform DER -in "$T/to-km.p7m" \
	    -inkey "pkcs11:token=alice;object=rsa2048-km;type=private" \
	    -recip "$PKI/alice-rsa2048-km.pem" -out "$T/eng.dec"
	check "  to the original" cmp "$T/eng.dec" "$T/msg"
	check "  after one prompt" test "$(prompts)" -eq 1
fi

# ---- OpenSSH ----

ssh-keygen -D "$MOD" >"$T/ssh.keys" 2>"$T/ssh.err" || true
check "ssh-keygen -D lists the 12 keys of alice and bob" \
    test "$(grep -c '^\(ssh-rsa\|ecdsa-sha2-nistp[0-9]*\) ' "$T/ssh.keys")" \
    -eq 12
for k in rsa2048-sign p256-sign p384-sign; do
	ssh-keygen -i -m PKCS8 -f "$PKI/alice-$k.pub.pem" >"$T/$k.pub"
	check "  among them alice's $k" grep -F "$(cut -d' ' -f2 "$T/$k.pub")" \
	    "$T/ssh.keys"
done

export SSH_AUTH_SOCK=$T/ssh.sock
ssh-agent -D -a "$SSH_AUTH_SOCK" -P "$CARDAGENT_LIB/*" >"$T/ssh-agent.log" \
    2>&1 &
SSH_AGENT=$!
for _ in $(seq 1 100); do
	[ -S "$SSH_AUTH_SOCK" ] && break
	sleep 0.05
done
# ssh-add reads the PIN through SSH_ASKPASS when there is no terminal.
printf '#!/bin/sh\ncat %q\n' "$FAKE_PINENTRY_PIN" >"$T/askpass"
chmod 700 "$T/askpass"
logged_out
check "ssh-add -s loads the module into ssh-agent, with alice's PIN" \
    env SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force \
    ssh-add -s "$MOD" </dev/null
check "  which logged alice in" alice_in
check "  without pinentry" test "$(prompts)" -eq 0
ssh-add -L >"$T/agent.keys" 2>&1 || true
check "ssh-add -L lists the 12 keys" \
    test "$(grep -c -v '^$' "$T/agent.keys")" -eq 12
echo "alice@example.org namespaces=\"file\" $(cat "$T/p256-sign.pub")" \
    >"$T/allowed"
echo "alice@example.org namespaces=\"file\" $(cat "$T/rsa2048-sign.pub")" \
    >>"$T/allowed"
# ssh_verify KEY: ssh-keygen -Y verify finds $T/msg.KEY.sig good.
ssh_verify() {
	ssh-keygen -Y verify -f "$T/allowed" -I alice@example.org -n file \
	    -s "$T/msg.$1.sig" <"$T/msg"
}
for k in rsa2048-sign p256-sign; do
	cp "$T/msg" "$T/msg.$k"
	check "ssh-keygen -Y sign with $k through ssh-agent" \
	    ssh-keygen -Y sign -f "$T/$k.pub" -n file "$T/msg.$k"
	check "  ssh-keygen -Y verify finds it good" ssh_verify "$k"
done
echo tampered >>"$T/msg"
expect_exit 255 "  and a changed file bad" ssh_verify p256-sign
printf 'cardagent peers test message\n' >"$T/msg"

check "ssh-add -e removes the module" ssh-add -e "$MOD"
logged_out
# With the token logged in already (cardsign login), the PIN ssh-add
# insists on is not needed: the agent answers a login with OK.
check "ssh-add -s after cardsign login, with no PIN at hand" bash -c "
    cardsign login --token $alice_tok &&
    printf '#!/bin/sh\necho -\n' >$T/askpass &&
    SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force ssh-add -s $MOD \
    </dev/null"
cp "$T/msg" "$T/msg.p256-sign"
rm -f "$T/msg.p256-sign.sig"
check "  which cost one prompt, cardsign's" test "$(prompts)" -eq 1
check "  and it signs" ssh-keygen -Y sign -f "$T/p256-sign.pub" -n file \
    "$T/msg.p256-sign"
check "  good" ssh_verify p256-sign

ssh_stop

# ---- NSS and cardsign at once: one login, one prompt ----

logged_out
# A user who takes 2 s to type the PIN: cardsign's request comes while
# NSS's login waits on pinentry, and waits for the same login.
echo 2 >"$FAKE_PINENTRY_WAIT"
nss_sign alice:rsa2048-sign "$T/both-nss.p7m" >"$T/both-nss.out" 2>&1 &
nss=$!
for _ in $(seq 1 100); do
	[ "$(prompts)" -ge 1 ] && break
	sleep 0.05
done
cardsign sign --key 'pkcs11:token=alice;object=p256-sign' \
    --certfile "$PKI/intermediate.pem" -o "$T/both-cs.p7s" "$T/msg" \
    >"$T/both-cs.out" 2>&1 &
cs=$!
check "NSS signs while cardsign signs" wait "$nss"
check "  and cardsign too" wait "$cs"
rm -f "$FAKE_PINENTRY_WAIT"
check "  one prompt for both" test "$(prompts)" -eq 1
check "  NSS's signature is good" ossl_verify "$T/both-nss.p7m"
check "  cardsign's too" ossl_verify "$T/both-cs.p7s" -content "$T/msg"

finish
