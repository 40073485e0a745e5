#!/usr/bin/env bash
# The PKCS#11 module (build/lib/cardagent-pkcs11.so): pkcs11-tool sees the
# agent's tokens as slots and its keys as objects, and signs, decrypts,
# derives and logs in through it; results are checked with openssl
# against the fixture's keys and certificates. tests/p11check drives what
# pkcs11-tool cannot: the attribute rules, C_Initialize's arguments,
# login state, slot events and C_Finalize during a wait, fork, threads.
. "$(dirname "$0")/lib.sh"

: "${CARDAGENT_LIB:?}" "${P11CHECK:?}" "${FAULTMOD:?}"
MOD=$CARDAGENT_LIB/cardagent-pkcs11.so
p11() { pkcs11-tool --module "$MOD" "$@"; }
p11check() { "$P11CHECK" "$MOD" "$@"; }
alice=(--token-label alice)

start_agent

# ---- slots and objects ----

p11 -L >"$T/slots" 2>&1
check "-L lists alice and bob" bash -c "
    grep -q 'token label *: alice' $T/slots &&
    grep -q 'token label *: bob' $T/slots"
check "  each with a protected authentication path" test \
    "$(grep -c 'PIN pad present' "$T/slots")" -eq 2
check "  that needs a login" test \
    "$(grep -c 'login required' "$T/slots")" -eq 2

# count FILE CLASS: objects of that class in pkcs11-tool -O output.
count() { grep -c "^$2 Object" "$1" || true; }
p11 "${alice[@]}" -O >"$T/objs" 2>&1
for class in Certificate "Public Key" "Private Key"; do
	check "-O on alice, logged out: 10 objects of class $class" \
	    test "$(count "$T/objs" "$class")" -eq 10
done
check "  the private keys are sensitive and never extractable" test \
    "$(grep -c 'Access: *sensitive, always sensitive, never extractable' \
    "$T/objs")" -eq 10
check "  and warn of nothing" bash -c "! grep -qi 'warning\|error' $T/objs"
p11 --token-label bob -O >"$T/objs" 2>&1
check "-O on bob: 2 certificates, public and private keys" test \
    "$(count "$T/objs" Certificate) $(count "$T/objs" 'Public Key')" = "2 2"
check "  and 2 private keys" test "$(count "$T/objs" 'Private Key')" -eq 2
# read_ok TYPE ID FILE: the object reads back as FILE.
read_ok() {
	p11 "${alice[@]}" --read-object --type "$1" --id "$2" -o "$T/obj" &&
	    cmp "$T/obj" "$3"
}
check "the certificate reads back as the fixture's" \
    read_ok cert 02 "$PKI/alice-rsa2048-sign.der"
check "the public key reads back as the fixture's" \
    read_ok pubkey 23 "$PKI/alice-p256-km.pub.der"
check "attribute rules: private values sensitive, lengths, errors" \
    p11check attrs alice rsa2048-sign
check "C_Initialize, C_Finalize and their arguments" p11check init

# ---- login ----

# state_is STATE: a session on alice is in it ("user" or "public").
state_is() { test "$(p11check state alice)" = "$1"; }
cardsign lock
no_pin
: >"$FAKE_PINENTRY_LOG"
check "logged out, the session is public" state_is public
expect_exit 1 "a wrong PIN fails" \
    p11 "${alice[@]}" --login --pin 000000 -O
check "  with CKR_PIN_INCORRECT" grep -q CKR_PIN_INCORRECT "$T/out"
check "  and nobody was asked for another" test "$(prompts)" -eq 0
check "  and the token is still locked" state_is public
check "--login --pin logs in" p11 "${alice[@]}" --login \
    --pin "$FIXTURE_ALICE_PIN" -O
check "  the session shows it" state_is user
check "C_Logout locks the token in the agent" \
    test "$(p11check logout alice)" = 0x0
check "  cardsign sees it locked" bash -c "cardsign status --json |
    python3 -c 'import json, sys
sys.exit(any(t[\"logged_in\"] for t in json.load(sys.stdin)))'"
set_pin "$FIXTURE_ALICE_PIN"
check "--login without a PIN: the agent asks through pinentry" \
    p11 "${alice[@]}" --login -O
check "  once" test "$(prompts)" -eq 1
check "  and the session shows the login" state_is user

# ---- signatures, checked with openssl against the fixture ----

echo "cardagent pkcs11 test message" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d256"
# SHA-256's DigestInfo prefix (RFC 8017 9.2, note 1), for CKM_RSA_PKCS.
{
	printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01'
	printf '\x05\x00\x04\x20'
	cat "$T/d256"
} >"$T/di256"
rsa=$PKI/alice-rsa2048-sign.pub.pem
pss="-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1"
# sign_ok ID MECH IN PUB OPTS [ARGS]: pkcs11-tool signs IN with the key
# ID (ARGS added), and openssl finds it a signature of $T/msg's SHA-256
# by PUB (OPTS, words for openssl dgst, may be empty).
# shellcheck disable=SC2086
sign_ok() {
	local id=$1 mech=$2 in=$3 pub=$4 opts=$5
	shift 5
	p11 "${alice[@]}" --sign --id "$id" -m "$mech" -i "$in" \
	    -o "$T/sig" "$@" &&
	    openssl dgst -sha256 $opts -verify "$pub" -signature "$T/sig" \
	    "$T/msg"
}
check "RSA-PKCS over a DigestInfo verifies" \
    sign_ok 02 RSA-PKCS "$T/di256" "$rsa" ""
check "SHA256-RSA-PKCS verifies" \
    sign_ok 02 SHA256-RSA-PKCS "$T/msg" "$rsa" ""
check "RSA-PKCS-PSS over a SHA-256 digest verifies" \
    sign_ok 02 RSA-PKCS-PSS "$T/d256" "$rsa" "$pss" --hash-algorithm SHA256
check "SHA256-RSA-PKCS-PSS verifies" \
    sign_ok 02 SHA256-RSA-PKCS-PSS "$T/msg" "$rsa" "$pss"
for c in p256:22 p384:32; do
	pub=$PKI/alice-${c%:*}-sign.pub.pem
	check "${c%:*}: ECDSA over a SHA-256 digest verifies" \
	    sign_ok "${c#*:}" ECDSA "$T/d256" "$pub" "" \
	    --signature-format openssl
	check "${c%:*}: ECDSA-SHA256 verifies" \
	    sign_ok "${c#*:}" ECDSA-SHA256 "$T/msg" "$pub" "" \
	    --signature-format openssl
done
p11 "${alice[@]}" --sign --id 22 -m ECDSA-SHA256 -i "$T/msg" -o "$T/sig"
check "an ECDSA signature is r || s: 64 bytes on P-256" \
    test "$(stat -c %s "$T/sig")" -eq 64

# ---- decryption and derivation ----

# decrypt_ok MECH [ARGS]: the key 03 gets $T/cek back from $T/ct.
decrypt_ok() {
	local mech=$1
	shift
	p11 "${alice[@]}" --decrypt --id 03 -m "$mech" -i "$T/ct" \
	    -o "$T/pt" "$@" && cmp "$T/cek" "$T/pt"
}
km=$PKI/alice-rsa2048-km.pub.pem
openssl rand 32 >"$T/cek"
openssl pkeyutl -encrypt -pubin -inkey "$km" -in "$T/cek" -out "$T/ct"
check "RSA-PKCS decrypts" decrypt_ok RSA-PKCS
cp "$T/ct" "$T/ct.pkcs1"
openssl pkeyutl -encrypt -pubin -inkey "$km" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$T/cek" \
    -out "$T/ct"
check "RSA-PKCS-OAEP with SHA-256 decrypts" \
    decrypt_ok RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256

# derive_ok [ARGS]: ECDH of the key 23 with bob's gives openssl's secret.
derive_ok() {
	p11 "${alice[@]}" --derive --id 23 -m ECDH1-DERIVE "$@" \
	    -i "$PKI/bob-p256-km.pub.der" -o "$T/z" && cmp "$T/z" "$T/z.ref"
}
openssl pkeyutl -derive -inkey "$PKI/alice-p256-km.key" \
    -peerkey "$PKI/bob-p256-km.pub.pem" -out "$T/z.ref"
check "ECDH1-DERIVE gives openssl's shared secret" derive_ok
check "  also with the point in DER" derive_ok --derive-pass-der
check "lengths, short buffers, multi-part signing, derived secrets" \
    p11check ops alice rsa2048-sign rsa2048-km "$T/ct.pkcs1" "$T/cek" \
    p256-km bob p256-km

p11 "${alice[@]}" --login --pin "$FIXTURE_ALICE_PIN" --test >"$T/test.out" 2>&1
check "pkcs11-tool --test finds no errors" grep -q '^No errors' "$T/test.out"
check "a forked child initialises anew and signs" \
    p11check fork alice p256-sign
check "8 threads sign at once" p11check threads alice p256-sign 8
check "C_Finalize lets a blocked C_WaitForSlotEvent go" p11check finalize

# ---- slot events: tests/faultmod pulls alice's card ----

stop_agent
export FAULTMOD_REAL=$FIXTURE_MODULE FAULTMOD_CONTROL=$T/fault
: >"$FAULTMOD_CONTROL"
start_agent --module "$FAULTMOD"
# wait_line PATTERN: up to 5 s for the watcher's output to show it.
wait_line() {
	for _ in $(seq 1 100); do
		grep -q "$1" "$T/events" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
p11check events 2 >"$T/events" 2>&1 &
watcher=$!
wait_line ready
echo "remove @alice" >"$FAULTMOD_CONTROL"
check "a pulled card is a slot event, the token absent" \
    wait_line 'event alice absent'
p11 -L >"$T/slots" 2>&1
check "  its slot stays, without a token" bash -c "
    test \$(grep -c '^Slot' $T/slots) -eq 2 &&
    grep -q '^  (empty)' $T/slots"
: >"$FAULTMOD_CONTROL"
check "the card put back is another event, the token present" \
    wait_line 'event alice present'
check "and then nothing more happened" wait "$watcher"

finish
