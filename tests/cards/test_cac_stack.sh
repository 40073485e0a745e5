#!/usr/bin/env bash
# test_cac_stack.sh: virtual CAC cards through OpenSC alone, no agent.
#
# Two virtual CAC cards (vcac: libcacard behind vpcd), alice's in reader 0
# and bob's in reader 1, behind a private pcscd (tests/cards/lib.sh).
# Through opensc-pkcs11.so (its CAC driver) and pkcs11-tool: the token as
# OpenSC names it, the three certificates and their ids, a login, the Email
# Signature key signing and the Email Encryption key decrypting, checked
# with openssl against the card's certificates, which chain to the test CA;
# a wrong PIN as libcacard answers it (SW 6985, CKR_GENERAL_ERROR, no retry
# counter), shown with raw APDUs through opensc-tool's default driver too;
# removal and re-insertion.
#
# Run by ctest as cards.cac_stack, or by hand as root:
#     CARDS_VCAC=build/tests/vcac bash tests/cards/test_cac_stack.sh
# Exits 77 (skipped) without root, namespaces or vcac (libcacard).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"

cards_require_cac
t0=$(date +%s%N)
cards_start
trap stack_finish EXIT
T=$CARDS_DIR/t
mkdir "$T"
cards_insert_cac alice 0
cards_insert_cac bob 1
echo "# stack and two new CAC cards up in" \
    "$((($(date +%s%N) - t0) / 1000000)) ms"
A=$(cards_state alice)

# token_field LABEL FIELD: FIELD ("serial num", "token manufacturer" ...)
# of the token LABEL in `pkcs11-tool -L`; nothing if no such token.
token_field() {
	p11 -L 2>/dev/null | awk -v l="$1" -v f="$2" '
		/^Slot/ { t = "" }
		/token label/ { sub(/^[^:]*: /, ""); t = $0 }
		t == l && index($0, f) == 3 { sub(/^[^:]*: /, ""); print }'
}
serial() { token_field "$1" "serial num"; }

alice_serial=$(serial alice)
echo "# alice: manufacturer '$(token_field alice "token manufacturer")'," \
    "model '$(token_field alice "token model")', serial $alice_serial;" \
    "bob: serial $(serial bob)"
is_cac_token() {
	[ "$(token_field "$1" "token manufacturer")" = "Common Access Card" ] &&
		[ "$(token_field "$1" "token model")" = "PKCS#15 emulated" ]
}
check "pkcs11-tool -L: alice's token, by OpenSC's CAC driver" \
    is_cac_token alice
check "pkcs11-tool -L: bob's token beside it" is_cac_token bob

# labels TOKEN TYPE [ARGS...]: "ID LABEL" of each object of TYPE (cert,
# privkey) that pkcs11-tool lists on TOKEN (which ignores --id here).
labels() {
	p11 --token-label "$1" --list-objects --type "$2" "${@:3}" | awk '
		/label:/ { sub(/^[^:]*: */, ""); l = $0 }
		/ID:/ { print $2, l }'
}

# card_cert TOKEN ID FILE LABEL: the certificate with CKA_ID ID on TOKEN is
# labelled LABEL, is the one in FILE (the card's state), and chains to the
# CA; its public key goes to $T/TOKEN-ID.pub.
card_cert() {
	local f=$T/$1-$2
	labels "$1" cert >"$f.list" &&
		grep -Fx "$2 $4" "$f.list" >/dev/null &&
		p11 --token-label "$1" --read-object --type cert --id "$2" \
		    -o "$f.der" &&
		openssl x509 -inform DER -in "$f.der" -out "$f.pem" &&
		cmp <(openssl x509 -in "$f.pem" -outform DER) \
		    <(openssl x509 -in "$3" -outform DER) &&
		openssl x509 -in "$f.pem" -noout -pubkey >"$f.pub" &&
		openssl verify -CAfile "$CARDS_CA" "$f.pem"
}
check "0001 is the 'CAC ID Certificate', chains to the CA" \
    card_cert alice 0001 "$A/id.pem" "CAC ID Certificate"
check "0002 is the 'CAC Email Signature Certificate'" \
    card_cert alice 0002 "$A/sign.pem" "CAC Email Signature Certificate"
check "0003 is the 'CAC Email Encryption Certificate'" \
    card_cert alice 0003 "$A/encrypt.pem" "CAC Email Encryption Certificate"
check "bob's 0003 chains to the CA" card_cert bob 0003 \
    "$(cards_state bob)/encrypt.pem" "CAC Email Encryption Certificate"
has_mail() {
	openssl x509 -in "$T/$1.pem" -noout -ext subjectAltName |
		grep "$2" >/dev/null
}
check "alice's signature certificate names alice@example.org" \
    has_mail alice-0002 alice@example.org
check "bob's encryption certificate names bob@example.org" \
    has_mail bob-0003 bob@example.org

no_keys_before_login() { [ -z "$(labels alice privkey)" ]; }
three_keys_after_login() {
	[ "$(labels alice privkey --login --pin "$CARDS_PIN")" = \
	    "$(printf '%s\n' \
	    "0001 CAC ID Certificate" "0002 CAC Email Signature Certificate" \
	    "0003 CAC Email Encryption Certificate")" ]
}
check "no private key is listed before login" no_keys_before_login
check "after login: the three private keys, ids 0001-0003" \
    three_keys_after_login

printf 'a message to sign\n' >"$T/msg"
# sign_verify ID MECHANISM [ARGS...]: alice signs $T/msg with key ID after a
# login; openssl verifies with the certificate's key.
sign_verify() {
	rm -f "$T/sig"
	alice_login --sign --id "$1" -m "$2" "${@:3}" -i "$T/msg" \
	    -o "$T/sig" &&
		openssl dgst -sha256 -verify "$T/alice-$1.pub" \
		    -signature "$T/sig" "$T/msg"
}
check "Email Signature (0002) signs RSA PKCS#1 v1.5 (SHA-256)" \
    sign_verify 0002 SHA256-RSA-PKCS
sign_verify_pss() {
	rm -f "$T/sig"
	alice_login --sign --id 0002 -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 \
	    --salt-len 32 -i "$T/msg" -o "$T/sig" &&
		openssl dgst -sha256 -sigopt rsa_padding_mode:pss \
		    -sigopt rsa_pss_saltlen:32 -verify "$T/alice-0002.pub" \
		    -signature "$T/sig" "$T/msg"
}
check "Email Signature signs RSA-PSS (OpenSC pads, the card: raw RSA)" \
    sign_verify_pss
check "ID (0001) signs" sign_verify 0001 SHA256-RSA-PKCS
expect_exit 1 "Email Encryption (0003) is not a signing key" \
    alice_login --sign --id 0003 -m SHA256-RSA-PKCS -i "$T/msg" -o "$T/sig"
check "... refused by C_SignInit" grep 'C_SignInit failed' "$T/out"

head -c 32 /dev/urandom >"$T/secret"
decrypt_pkcs1() {
	rm -f "$T/pt"
	openssl pkeyutl -encrypt -pubin -inkey "$T/alice-0003.pub" \
	    -in "$T/secret" -out "$T/ct" &&
		alice_login --decrypt --id 0003 -m RSA-PKCS -i "$T/ct" \
		    -o "$T/pt" &&
		cmp "$T/secret" "$T/pt"
}
decrypt_oaep() {
	rm -f "$T/pt"
	openssl pkeyutl -encrypt -pubin -inkey "$T/alice-0003.pub" \
	    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	    -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/ct" &&
		alice_login --decrypt --id 0003 -m RSA-PKCS-OAEP \
		    --hash-algorithm SHA256 --mgf MGF1-SHA256 \
		    -i "$T/ct" -o "$T/pt" &&
		cmp "$T/secret" "$T/pt"
}
check "Email Encryption (0003) decrypts RSA PKCS#1 v1.5" decrypt_pkcs1
check "Email Encryption decrypts RSA-OAEP (SHA-256)" decrypt_oaep

# A wrong PIN: libcacard answers VERIFY with 6985 (conditions of use not
# satisfied), which OpenSC maps to CKR_GENERAL_ERROR, not
# CKR_PIN_INCORRECT; and it keeps no retry counter.
expect_exit 1 "a wrong PIN is refused" \
    alice --login --pin "$CARDS_WRONG_PIN" --list-objects
check "... with CKR_GENERAL_ERROR (libcacard's SW 6985)" \
    grep CKR_GENERAL_ERROR "$T/out"
for i in 2 3 4; do
	expect_exit 1 "wrong PIN $i is refused too" \
	    alice --login --pin "$CARDS_WRONG_PIN" --list-objects
done
pin_flags() {
	alice -L | grep 'token flags' |
		grep -E 'final user PIN try|user PIN locked|user PIN count low'
}
check "no PIN counter: the token flags show no low/final/locked PIN" \
    fails pin_flags
check "the right PIN still logs in after 4 wrong ones" \
    sign_verify 0002 SHA256-RSA-PKCS

# expect_sws DESC APDU SW [APDU SW]...: sends the APDUs in a row, in one
# connection, to reader 0; each must answer with the status word after it.
# (opensc-tool fails when an APDU fails: its exit status means nothing here.)
# The first PKI applet (the ID key), and VERIFY: the PIN padded with FF to
# 8 bytes; without data, "am I verified?".
SELECT=00A4040007A0000000790100
pad_pin() {
	local p
	p=$(printf '%s' "$1" | hex)
	while [ ${#p} -lt 16 ]; do p+=ff; done
	echo "0020000008$p"
}
VERIFY=$(pad_pin "$CARDS_PIN")
WRONG=$(pad_pin "$CARDS_WRONG_PIN")
STATUS=0020000000
expect_sws "raw: a wrong VERIFY is 6985, then 6A88 (no 63Cx counter)" \
    "$SELECT" 9000 "$WRONG" 6985 "$STATUS" 6A88 "$VERIFY" 9000 \
    "$STATUS" 9000

# Removal and re-insertion.
t1=$(date +%s%N)
cards_pull alice
echo "# pull seen by pcscd in $((($(date +%s%N) - t1) / 1000000)) ms"
alice_gone() {
	[ -z "$(serial alice)" ] && [ -n "$(serial bob)" ]
}
check "pulled: pkcs11-tool -L shows no alice token, bob's still there" \
    alice_gone
check "pulled: signing with alice's token fails" \
    fails sign_verify 0002 SHA256-RSA-PKCS
t1=$(date +%s%N)
cards_insert alice
echo "# insertion seen by pcscd in $((($(date +%s%N) - t1) / 1000000)) ms"
alice_back() {
	[ "$(serial alice)" = "$alice_serial" ] && is_cac_token alice
}
check "re-inserted: pkcs11-tool -L shows alice's token again" alice_back
expect_sws "re-inserted: the card was powered afresh, PIN not verified" \
    "$SELECT" 9000 "$STATUS" 6A88
check "re-inserted: Email Signature signs, the old certificate verifies" \
    sign_verify 0002 SHA256-RSA-PKCS
check "re-inserted: Email Encryption decrypts" decrypt_pkcs1

echo "# total $((($(date +%s%N) - t0) / 1000000)) ms"
