#!/usr/bin/env bash
# test_agent_cac.sh: the agent on OpenSC with a CAC card and a PIV card at
# once, as on a desk with two readers: alice's virtual CAC card (vcac,
# libcacard) in reader 0, bob's virtual PIV card (vpiv.py) in reader 1,
# behind a private pcscd (tests/cards/lib.sh). The CAC roles in `cardsign
# keys`, the Email Signature and ID keys signing, the Email Encryption key
# decrypting, S/MIME signed and decrypted with the CAC keys, a wrong PIN as
# libcacard answers it, the CAC card pulled while the PIV card signs on,
# and put back. Skipped (77) without root, namespaces or vcac (libcacard).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

cards_require_cac
cards_start
cards_insert_cac alice 0
cards_insert bob 1
start_agent --module "$CARDS_MODULE"

# shellcheck source=agent.sh
. "$(dirname "$0")/agent.sh"

# token_is LABEL FIELD VALUE: the token's FIELD in `cardsign status --json`.
token_is() {
	cardsign status --json | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t["label"] == sys.argv[1]][0]
sys.exit(t[sys.argv[2]] != sys.argv[3])' "$1" "$2" "$3"
}
A=$(cards_state alice)
B=$(cards_state bob)

check "both cards are listed, present" bash -c "
    [ \"\$(cardsign status --json | python3 -c 'import json,sys
print(sum(t[\"present\"] for t in json.load(sys.stdin)))')\" = 2 ]"
check "alice's token: OpenSC's CAC driver (manufacturer)" \
    token_is alice manufacturer "Common Access Card"
cardsign keys >"$T/keys"
for role in "CAC ID (authentication)" "CAC Email Signature" \
    "CAC Email Encryption" "PIV Authentication (9A)" \
    "Digital Signature (9C)"; do
	check "before login, cardsign keys shows the role '$role'" \
	    grep -F "  $role" "$T/keys"
done
aid=$(role_key alice "CAC ID")
asig=$(role_key alice "CAC Email Signature")
aenc=$(role_key alice "CAC Email Encryption")
b9a=$(role_key bob "PIV Authentication")
b9c=$(role_key bob "Digital Signature")
check "the CAC keys are alice's, RSA-2048, with their uses" bash -c "
    cardsign keys | grep -E '^$asig  RSA-2048  sign ' >/dev/null &&
    cardsign keys | grep -E '^$aenc  RSA-2048  decrypt ' >/dev/null"

# A wrong PIN: libcacard answers SW 6985, OpenSC CKR_GENERAL_ERROR, so the
# agent cannot tell it from a failing card; what matters is that it asks
# once and tries nothing of its own.
set_pin "$CARDS_WRONG_PIN"
: >"$FAKE_PINENTRY_LOG"
rc=0
cardsign sign-digest --key "$asig" --hash sha256 --in "$T/d" \
    -o "$T/sig" >"$T/wrong.out" 2>&1 || rc=$?
echo "# a wrong CAC PIN through the agent: exit $rc: $(head -n 1 "$T/wrong.out")"
check "a wrong PIN fails the signature" test "$rc" -ne 0
check "  the PIN was asked once (1 prompt)" test "$(prompts)" -eq 1
check "  the card stays locked" wait_state "$(tok alice)" "present out up" 1

set_pin "$CARDS_PIN"
check "login to alice's CAC card" login alice
check "the CAC Email Signature key signs" sign_ok "$asig" "$A/sign.pem"
check "the CAC ID key signs" sign_ok "$aid" "$A/id.pem"
check "  RSA-PSS too" bash -c "
    cardsign sign-digest --key '$asig' --hash sha256 --pss --in '$T/d' \
    -o '$T/sig' && openssl dgst -sha256 -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:-1 \
    -verify <(openssl x509 -in '$A/sign.pem' -pubkey -noout) \
    -signature '$T/sig' '$T/msg' >/dev/null"
check "the CAC Email Encryption key unwraps (PKCS#1 v1.5)" \
    unwrap_ok "$aenc" "$A/encrypt.pem"
check "  and OAEP (SHA-256)" unwrap_ok "$aenc" "$A/encrypt.pem" oaep
expect_exit 8 "the Email Encryption key does not sign (not allowed)" \
    cardsign sign-digest --key "$aenc" --hash sha256 --in "$T/d" -o "$T/sig"

# S/MIME with the CAC keys: signed with Email Signature, encrypted to
# Email Encryption's certificate and decrypted on the card.
printf 'From: alice@example.org\nSubject: cac\n\nsigned on a CAC\n' \
    >"$T/mail"
check "smime sign with the CAC Email Signature key" \
    cardsign smime sign --key "$asig" -i "$T/mail" -o "$T/mail.s"
check "  verifies against the card CA" cardsign smime verify \
    --no-system-ca --ca-file "$CARDS_CA" -i "$T/mail.s" -o "$T/mail.v"
check "  with the content intact" grep -F 'signed on a CAC' "$T/mail.v"
check "smime encrypt to the CAC Email Encryption certificate" \
    cardsign smime encrypt --no-self --to "$A/encrypt.pem" -i "$T/mail" \
    -o "$T/mail.e"
check "  smime decrypt on the CAC card" \
    cardsign smime decrypt -i "$T/mail.e" -o "$T/mail.d"
check "  gives the message back" grep -F 'signed on a CAC' "$T/mail.d"
check "smime signed by bob's PIV card (9C), encrypted to alice's CAC, \
decrypted there and verified" bash -c "
    set -o pipefail
    printf '%s\n' '$CARDS_PIN' | cardsign login --token '$(tok bob)' \
    --pin-stdin && cardsign smime sign --key '$b9c' -i '$T/mail' |
    cardsign smime encrypt --no-self --to '$A/encrypt.pem' -o '$T/mail.se' &&
    cardsign smime decrypt --verify --no-system-ca --ca-file '$CARDS_CA' \
    -i '$T/mail.se' -o '$T/mail.sd' &&
    grep -F 'signed on a CAC' '$T/mail.sd' >/dev/null"

# The CAC card pulled while idle: absent within a second, its keys fail as
# absent, the PIV card signs on; back in, it needs a login again.
alice=$(tok alice)
cards_pull alice
check "the pulled CAC card shows absent within a second" \
    wait_state "$alice" "absent out up" 2
expect_exit 7 "its Email Signature key fails: token absent" \
    cardsign sign-digest --key "$asig" --hash sha256 --in "$T/d" -o "$T/sig"
check "bob's PIV card signs meanwhile" sign_ok "$b9a" "$B/9a.pem"
check "  and again" sign_ok "$b9a" "$B/9a.pem"
cards_insert alice
check "the CAC card is back, logged out" wait_state "$alice" \
    "present out up" 2
check "  with the same id" test "$(tok alice)" = "$alice"
check "  and the same key ids" test "$(role_key alice "CAC Email Signature")" \
    = "$asig"
check "login again" login alice
check "the Email Signature key signs" sign_ok "$asig" "$A/sign.pem"
check "the Email Encryption key unwraps" unwrap_ok "$aenc" "$A/encrypt.pem"
check "bob's PIV card still signs" sign_ok "$b9a" "$B/9a.pem"

finish
