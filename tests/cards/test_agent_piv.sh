#!/usr/bin/env bash
# The agent on the real middleware: OpenSC's opensc-pkcs11.so, a private
# pcscd and two virtual PIV cards (tests/cards/lib.sh), exactly as on a
# desk with two readers. Every PIV key role through the agent, 9C's PIN
# at every use, the try counter never touched by the agent, pulled and
# re-inserted cards (idle, during a signature, and fast enough to
# deadlock OpenSC 0.23, which the watchdog recovers), and S/MIME with the
# card's keys. Skipped (77) without root or namespaces.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

cards_start
cards_insert alice 0
cards_insert bob 1
# A short watchdog: the OpenSC deadlock below costs this long.
printf 'token-timeout 5\n' >"$T/agent.conf"
start_agent --config "$T/agent.conf" --module "$CARDS_MODULE"

# shellcheck source=agent.sh
. "$(dirname "$0")/agent.sh"
A=$(cards_state alice)
B=$(cards_state bob)

check "both cards are listed, present" bash -c "
    [ \"\$(cardsign status --json | python3 -c 'import json,sys
print(sum(t[\"present\"] for t in json.load(sys.stdin)))')\" = 2 ]"
check "before login every key shows, with its PIV role" bash -c "
    cardsign keys | grep -q 'Digital Signature (9C)' &&
    cardsign keys | grep -q 'Retired Key Management 2 (83)'"
a9a=$(role_key alice "PIV Authentication")
a9c=$(role_key alice "Digital Signature")
a9d=$(role_key alice "Key Management (9D)")
a82=$(role_key alice "Retired Key Management 1")
a83=$(role_key alice "Retired Key Management 2")
b9a=$(role_key bob "PIV Authentication")

check "login to alice's card" login alice
check "9A signs" sign_ok "$a9a" "$A/9a.pem"
set_pin "$CARDS_PIN"
: >"$FAKE_PINENTRY_LOG"
check "9C signs" sign_ok "$a9c" "$A/9c.pem"
check "9C signs again" sign_ok "$a9c" "$A/9c.pem"
check "  each time with its own PIN (2 prompts)" test "$(prompts)" -eq 2
check "  the prompt says why" grep -q 'asks for the PIN every time' \
    "$FAKE_PINENTRY_LOG"
# A wrong PIN for 9C: OpenSC then takes the user as logged out (SoftHSM
# stays logged in); the agent reads the token's state after a failed
# context login, so the next operation logs in again instead of failing.
set_pin "$CARDS_WRONG_PIN"
expect_exit 5 "9C with a wrong PIN fails" \
    cardsign sign-digest --key "$a9c" --hash sha256 --in "$T/d" -o "$T/sig"
set_pin "$CARDS_PIN"
: >"$FAKE_PINENTRY_LOG"
check "then 9A signs (after a new login where the card forgot it)" \
    sign_ok "$a9a" "$A/9a.pem"
check "and 9C with the right PIN" sign_ok "$a9c" "$A/9c.pem"
check "9D decrypts (PKCS#1 v1.5)" unwrap_ok "$a9d" "$A/9d.pem"
check "retired 82 decrypts (OAEP)" unwrap_ok "$a82" "$A/82.pem" oaep
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/peer.key" 2>/dev/null
openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
check "retired 83 derives what openssl derives (ECDH)" bash -c "
    cardsign derive --key '$a83' --peer '$T/peer.pub' -o '$T/z' &&
    openssl pkeyutl -derive -inkey '$T/peer.key' \
    -peerkey <(openssl x509 -in '$A/83.pem' -pubkey -noout) -out '$T/z2' &&
    cmp '$T/z' '$T/z2'"

# The try counter: two wrong PINs on bob's card, then the right one. Had
# the agent tried a PIN of its own, the third attempt would find the card
# locked.
set_pin "$CARDS_WRONG_PIN"
: >"$FAKE_PINENTRY_LOG"
expect_exit 5 "bob: a wrong PIN is refused" sign_ok "$b9a" "$B/9a.pem"
expect_exit 5 "bob: a second wrong PIN is refused" sign_ok "$b9a" "$B/9a.pem"
check "  each asked once (2 prompts)" test "$(prompts)" -eq 2
check "  the card is at its final try" bash -c "
    cardsign status | grep -A1 '  bob  ' | grep -q 'PIN final try'"
set_pin "$CARDS_PIN"
check "bob: the right PIN still works" sign_ok "$b9a" "$B/9a.pem"
check "  the prompt warned of the final try" grep -q 'FINAL try' \
    "$FAKE_PINENTRY_LOG"

# Pulled while idle: absent within a second, its keys fail as absent,
# the other card signs on; back in, it needs a login again.
alice=$(tok alice)
cards_pull alice
check "a pulled card shows absent within a second" wait_state "$alice" \
    "absent out up" 2
expect_exit 7 "its key fails: token absent" \
    cardsign sign-digest --key "$a9a" --hash sha256 --in "$T/d" -o "$T/sig"
check "bob's card signs meanwhile" sign_ok "$b9a" "$B/9a.pem"
cards_insert alice
check "the card is back, logged out" wait_state "$alice" "present out up" 2
check "  with the same id" test "$(tok alice)" = "$alice"
check "login again" login alice
check "and it signs" sign_ok "$a9a" "$A/9a.pem"

# Pulled during a signature (while the user types 9C's PIN).
echo 1 >"$FAKE_PINENTRY_WAIT"
rc=0
cardsign sign-digest --key "$a9c" --hash sha256 --in "$T/d" \
    -o "$T/sig" >"$T/pulled.out" 2>&1 &
signer=$!
sleep 0.3
cards_pull alice
wait "$signer" || rc=$?
rm -f "$FAKE_PINENTRY_WAIT"
# Either the removal is seen (exit 7), or OpenSC 0.23 hangs in the call on
# the pulled card (vcard.md) and the watchdog restarts its host (exit 10):
# both end the request cleanly, and the agent serves on.
check "a card pulled during a signature fails it (exit 7, or 10 after a hang)" \
    test "$rc" -eq 7 -o "$rc" -eq 10
if [ "$rc" -eq 10 ]; then
	check "  OpenSC hung: the watchdog restarted its host" grep -q \
	    'did not answer within' "$T/agent.log"
fi
cards_insert alice
check "  back in" wait_state "$alice" "present out up" 15

# Pulled and put back faster than a poll: OpenSC 0.23 may deadlock on the
# old session; the watchdog restarts its host and the agent serves on.
check "login" login alice
cards_pull alice
cards_insert alice
check "after a fast re-insertion the card comes back" wait_state "$alice" \
    "present out up" 15
check "  and signs after a login" bash -c "
    printf '%s\n' '$CARDS_PIN' | cardsign login --token '$alice' --pin-stdin &&
    cardsign sign-digest --key '$a9a' --hash sha256 --in '$T/d' -o '$T/sig'"

# S/MIME with the card: signed with 9C, encrypted to 9D.
printf 'From: alice@example.org\nSubject: card\n\nsigned on a card\n' \
    >"$T/mail"
check "smime sign with 9C" cardsign smime sign --key "$a9c" -i "$T/mail" \
    -o "$T/mail.s"
check "  verifies against the card CA" cardsign smime verify --no-system-ca \
    --ca-file "$CARDS_CA" -i "$T/mail.s" -o /dev/null
check "smime encrypt to alice's 9D and decrypt on the card" bash -c "
    cardsign smime encrypt --no-self --to '$A/9d.pem' -i '$T/mail' \
    -o '$T/mail.e' && cardsign smime decrypt -i '$T/mail.e' -o '$T/mail.d' &&
    grep -q 'signed on a card' '$T/mail.d'"

finish
