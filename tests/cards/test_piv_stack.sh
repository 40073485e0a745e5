#!/usr/bin/env bash
# test_piv_stack.sh: the virtual PIV stack through OpenSC alone, no agent.
#
# Two virtual PIV cards, alice's in reader 0 and bob's in reader 1, behind a
# private pcscd (tests/cards/lib.sh). Through opensc-pkcs11.so and
# pkcs11-tool: every key is used once and checked with openssl against the
# card's certificates, which chain to the test CA; the PIN counter shows in
# the token flags; removal and re-insertion show in the slot list. What
# pkcs11-tool cannot show (9E without PIN, 9C's PIN-always, the counter's
# value) is checked with raw APDUs through opensc-tool's default driver,
# which sends nothing of its own between them.
#
# Run by ctest as cards.piv_stack, or by hand as root:
#     bash tests/cards/test_piv_stack.sh
# Exits 77 (skipped) without root or namespaces.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"

t0=$(date +%s%N)
cards_start
trap stack_finish EXIT
T=$CARDS_DIR/t
mkdir "$T"
cards_insert alice 0
cards_insert bob 1
echo "# stack and two new cards up in $((($(date +%s%N) - t0) / 1000000)) ms"

# serial LABEL: the serial number of the token LABEL in `pkcs11-tool -L`;
# nothing if no such token is present.
serial() {
	p11 -L 2>/dev/null | awk -v l="$1" '
		/^Slot/ { t = "" }
		/token label/ { t = $NF }
		/serial num/ && t == l { print $NF }'
}

alice_serial=$(serial alice)
bob_serial=$(serial bob)
two_tokens() {
	[ -n "$alice_serial" ] && [ -n "$bob_serial" ] &&
		[ "$alice_serial" != "$bob_serial" ]
}
check "pkcs11-tool -L lists alice's and bob's tokens, serials differ" \
    two_tokens

# card_cert TOKEN ID: the certificate with CKA_ID ID read from the token into
# $T/TOKEN-ID.pem, its public key into $T/TOKEN-ID.pub.
card_cert() {
	local f=$T/$1-$2
	p11 --token-label "$1" --read-object --type cert --id "$2" -o "$f.der" &&
		openssl x509 -inform DER -in "$f.der" -out "$f.pem" &&
		openssl x509 -in "$f.pem" -noout -pubkey >"$f.pub" &&
		openssl verify -CAfile "$CARDS_CA" "$f.pem"
}
for id in 01 02 03 04 05 06; do
	check "alice's certificate $id read from the card chains to the CA" \
	    card_cert alice "$id"
done
check "bob's certificate 03 chains to the CA" card_cert bob 03
has_mail() {
	openssl x509 -in "$T/$1.pem" -noout -ext subjectAltName | grep "$2" >/dev/null
}
check "alice's 9A certificate names alice@example.org" \
    has_mail alice-01 alice@example.org
check "bob's 9D certificate names bob@example.org" \
    has_mail bob-03 bob@example.org

printf 'a message to sign\n' >"$T/msg"
# sign_verify ID MECHANISM [ARGS...]: alice signs $T/msg with key ID after a
# login; openssl verifies with the certificate's key.
sign_verify() {
	rm -f "$T/sig"
	alice_login --sign --id "$1" -m "$2" "${@:3}" -i "$T/msg" -o "$T/sig" &&
		openssl dgst -sha256 -verify "$T/alice-$1.pub" -signature "$T/sig" \
		    "$T/msg"
}
check "9A (RSA-2048) signs after login" sign_verify 01 SHA256-RSA-PKCS
sign_verify_pss() {
	rm -f "$T/sig"
	alice_login --sign --id 01 -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 \
	    --salt-len 32 -i "$T/msg" -o "$T/sig" &&
		openssl dgst -sha256 -sigopt rsa_padding_mode:pss \
		    -sigopt rsa_pss_saltlen:32 -verify "$T/alice-01.pub" \
		    -signature "$T/sig" "$T/msg"
}
check "9A signs RSA-PSS (OpenSC pads, the card does raw RSA)" sign_verify_pss
always_auth() {
	alice_login --list-objects --type privkey --id 02 |
		grep 'always authenticate' >/dev/null
}
check "9C is CKA_ALWAYS_AUTHENTICATE" always_auth
check "9C signs (login, then context login with the PIN)" \
    sign_verify 02 SHA256-RSA-PKCS
check "9C signs again, again with its PIN" sign_verify 02 SHA256-RSA-PKCS
check "9E (P-256) signs ECDSA" \
    sign_verify 04 ECDSA-SHA256 --signature-format openssl

head -c 32 /dev/urandom >"$T/secret"
decrypt_9d() {
	openssl pkeyutl -encrypt -pubin -inkey "$T/alice-03.pub" \
	    -in "$T/secret" -out "$T/ct" &&
		alice_login --decrypt --id 03 -m RSA-PKCS -i "$T/ct" -o "$T/pt" &&
		cmp "$T/secret" "$T/pt"
}
decrypt_82() {
	openssl pkeyutl -encrypt -pubin -inkey "$T/alice-05.pub" \
	    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	    -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/ct" &&
		alice_login --decrypt --id 05 -m RSA-PKCS-OAEP \
		    --hash-algorithm SHA256 --mgf MGF1-SHA256 \
		    -i "$T/ct" -o "$T/pt" &&
		cmp "$T/secret" "$T/pt"
}
check "9D decrypts RSA PKCS#1 v1.5" decrypt_9d
check "retired 82 decrypts RSA-OAEP (SHA-256)" decrypt_82

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/peer.key" 2>/dev/null
openssl pkey -in "$T/peer.key" -pubout -outform DER -out "$T/peer.der"
derive_83() {
	alice_login --derive -m ECDH1-DERIVE --id 06 -i "$T/peer.der" \
	    -o "$T/z" &&
		openssl pkeyutl -derive -inkey "$T/peer.key" \
		    -peerkey "$T/alice-06.pub" -out "$T/z.ref" &&
		cmp "$T/z" "$T/z.ref"
}
check "retired 83 (P-256) derives the ECDH secret openssl derives" derive_83

# The card's PIN policies, APDU by APDU.
SELECT=00A4040009A0000003080000100000
LOGOUT=0020FF80
STATUS=00200080
pin=$(printf '%s' "$CARDS_PIN" | hex)
while [ ${#pin} -lt 16 ]; do pin+=ff; done
VERIFY=0020008008$pin
GA_9E=0087119E267C2482008120$(head -c 32 /dev/urandom | hex)00
GA_83=00871183477C4582008541$(tail -c 65 "$T/peer.der" | hex)00
# RSA on 9C: 7C{82 00, 81 <256 bytes>} is 266 bytes: two chained APDUs.
rsa_in=00$(head -c 255 /dev/zero | tr '\0' '\021' | hex)
ga_9c=7C820106820081820100$rsa_in
GA_9C_1=1087079CF0${ga_9c:0:480}
GA_9C_2=0087079C1A${ga_9c:480}00
policies=(
	"$SELECT" 9000
	"$LOGOUT" 9000
	"$STATUS" 63C3  # not verified, 3 tries left
	"$GA_9E" 9000   # 9E: no PIN
	"$GA_83" 6982   # 83: PIN first
	"$VERIFY" 9000
	"$GA_83" 9000
	"$GA_83" 9000   # ... once
	"$GA_9C_1" 9000 # (the first part of a chain)
	"$GA_9C_2" 6982 # 9C: VERIFY must be the command just before
	"$VERIFY" 9000
	"$GA_9C_1" 9000
	"$GA_9C_2" 9000
	"$GA_9C_1" 9000
	"$GA_9C_2" 6982 # ... and is good for one use
	"$STATUS" 9000  # still verified for the other keys
	"$LOGOUT" 9000
)
expect_sws "9E needs no PIN; 83 needs it once; 9C right after each VERIFY" \
    "${policies[@]}"

# The PIN counter through OpenSC.
token_flags() { alice -L | grep 'token flags'; }
expect_exit 1 "a wrong PIN is refused" \
    alice --login --pin "$CARDS_WRONG_PIN" --list-objects
check "... with CKR_PIN_INCORRECT" grep CKR_PIN_INCORRECT "$T/out"
expect_exit 1 "a second wrong PIN is refused" \
    alice --login --pin "$CARDS_WRONG_PIN" --list-objects
final_try() { token_flags | grep 'final user PIN try' >/dev/null; }
check "the token then shows CKF_USER_PIN_FINAL_TRY" final_try
check "the right PIN then logs in" alice_login --list-objects
check "... and the final-try flag is gone" fails final_try
expect_sws "... and the counter is back to 3" \
    "$SELECT" 9000 "$LOGOUT" 9000 "$STATUS" 63C3

# Removal and re-insertion.
expect_sws "PIN verified before the card is pulled" \
    "$SELECT" 9000 "$VERIFY" 9000
t1=$(date +%s%N)
cards_pull alice
echo "# pull seen by pcscd in $((($(date +%s%N) - t1) / 1000000)) ms"
alice_gone() {
	[ -z "$(serial alice)" ] && [ "$(serial bob)" = "$bob_serial" ]
}
check "pulled: pkcs11-tool -L shows no alice token, bob's still there" \
    alice_gone
check "pulled: signing with alice's token fails" \
    fails sign_verify 01 SHA256-RSA-PKCS
t1=$(date +%s%N)
cards_insert alice
echo "# insertion seen by pcscd in $((($(date +%s%N) - t1) / 1000000)) ms"
alice_back() { [ "$(serial alice)" = "$alice_serial" ]; }
check "re-inserted: pkcs11-tool -L shows alice's token, same serial" \
    alice_back
expect_sws "re-inserted: the card was powered afresh, PIN not verified" \
    "$SELECT" 9000 "$STATUS" 63C3
check "re-inserted: 9A signs, verified with the old certificate's key" \
    sign_verify 01 SHA256-RSA-PKCS

echo "# total $((($(date +%s%N) - t0) / 1000000)) ms"
