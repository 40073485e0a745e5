#!/usr/bin/env bash
# Every operation on every fixture key, checked against OpenSSL: PKCS#1 v1.5,
# PSS and ECDSA signatures verified with the certificates, RSA unwrap (v1.5
# and OAEP) and ECDH derive equal to what OpenSSL computes in software.
. "$(dirname "$0")/lib.sh"

start_agent
echo "cardagent test message" >"$T/msg"

check "status lists both tokens" bash -c \
    "cardsign status | grep -q '  alice  ' && cardsign status | grep -q '  bob  '"
check "tokens need login before the PIN is given" bash -c \
    "cardsign status --json | python3 -c 'import json,sys; t=json.load(sys.stdin); sys.exit(any(x[\"logged_in\"] for x in t))'"
printf '%s\n' "$FIXTURE_ALICE_PIN" | check "login with --pin-stdin" \
    cardsign login --token "$(token_id alice)" --pin-stdin
check "alice is logged in" bash -c \
    "cardsign status --json | python3 -c 'import json,sys; sys.exit(not [t for t in json.load(sys.stdin) if t[\"label\"]==\"alice\" and t[\"logged_in\"]])'"
check "keys lists the private keys with certificates" bash -c \
    "[ \$(cardsign keys --json | python3 -c 'import json,sys; print(sum(1 for k in json.load(sys.stdin) if k[\"has_certificate\"]))') -ge 10 ]"
check "always-authenticate flag is reported" bash -c \
    "cardsign keys --json | python3 -c 'import json,sys; ks=json.load(sys.stdin); sys.exit(not any(k[\"label\"]==\"rsa2048-sign-aa\" and k[\"always_authenticate\"] for k in ks))'"

for label in rsa2048-sign rsa3072-sign p256-sign p384-sign; do
	id=$(key_id alice $label)
	for h in sha256 sha384 sha512; do
		openssl dgst -$h -binary "$T/msg" >"$T/d"
		check "$label $h signature verifies" bash -c "
		    cardsign sign-digest --key $id --hash $h --in $T/d -o $T/sig &&
		    openssl dgst -$h -verify $PKI/alice-$label.pub.pem \
		        -signature $T/sig $T/msg"
	done
	case $label in rsa*)
		openssl dgst -sha256 -binary "$T/msg" >"$T/d"
		check "$label PSS signature verifies" bash -c "
		    cardsign sign-digest --key $id --hash sha256 --pss --in $T/d -o $T/sig &&
		    openssl dgst -sha256 -verify $PKI/alice-$label.pub.pem \
		        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
		        -signature $T/sig $T/msg"
		bits=${label#rsa}
		bits=${bits%-sign}
		check "$label signature is exactly the modulus length" \
		    test "$(stat -c %s "$T/sig")" -eq $((bits / 8))
		;;
	esac
done

for label in rsa2048-km rsa3072-km; do
	id=$(key_id alice $label)
	openssl rand 32 >"$T/cek"
	openssl pkeyutl -encrypt -pubin -inkey "$PKI/alice-$label.pub.pem" \
	    -in "$T/cek" -out "$T/wrapped"
	check "$label PKCS#1 v1.5 unwrap" bash -c "
	    cardsign unwrap --key $id --in $T/wrapped -o $T/out.key &&
	    cmp $T/cek $T/out.key"
	for h in sha1 sha256; do
		openssl pkeyutl -encrypt -pubin -inkey "$PKI/alice-$label.pub.pem" \
		    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:$h \
		    -pkeyopt rsa_mgf1_md:$h -in "$T/cek" -out "$T/wrapped"
		check "$label OAEP-$h unwrap" bash -c "
		    cardsign unwrap --key $id --oaep $h --in $T/wrapped -o $T/out.key &&
		    cmp $T/cek $T/out.key"
	done
	check "unwrapped key file is private" \
	    test "$(stat -c %a "$T/out.key")" = 600
	head -c 17 /dev/zero >"$T/bad"
	expect_exit 1 "$label rejects a ciphertext of the wrong length" \
	    cardsign unwrap --key "$id" --in "$T/bad" -o "$T/x"
done

for c in p256:P-256 p384:P-384; do
	label=${c%%:*}-km
	openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${c#*:}" \
	    -out "$T/peer.key" 2>/dev/null
	openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
	openssl pkeyutl -derive -inkey "$T/peer.key" \
	    -peerkey "$PKI/alice-$label.pub.pem" -out "$T/z.ref"
	check "$label ECDH equals OpenSSL's" bash -c "
	    cardsign derive --key $(key_id alice $label) --peer $T/peer.pub -o $T/z &&
	    cmp $T/z.ref $T/z"
done

# Selection by URI and by e-mail address resolve to the same key as the id.
id=$(key_id alice rsa2048-sign)
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
check "key selected by PKCS#11 URI" bash -c "
    cardsign sign-digest --key 'pkcs11:token=alice;object=rsa2048-sign' \
        --hash sha256 --in $T/d -o $T/sig &&
    openssl dgst -sha256 -verify $PKI/alice-rsa2048-sign.pub.pem -signature $T/sig $T/msg"
check "key selected by URI with a percent-encoded id" bash -c "
    cardsign sign-digest --key 'pkcs11:token=alice;id=%02' \
        --hash sha256 --in $T/d -o $T/sig &&
    openssl dgst -sha256 -verify $PKI/alice-rsa2048-sign.pub.pem -signature $T/sig $T/msg"
check "key selected by e-mail address (bob has one signing key)" bash -c "
    printf '%s\n' $FIXTURE_BOB_PIN | cardsign login --token $(token_id bob) --pin-stdin &&
    cardsign sign-digest --key bob@example.org --hash sha256 --in $T/d -o $T/sig &&
    openssl dgst -sha256 -verify $PKI/bob-rsa2048-sign.pub.pem -signature $T/sig $T/msg"
expect_exit 4 "ambiguous e-mail address is refused, not guessed" \
    cardsign sign-digest --key alice@example.org --hash sha256 --in "$T/d" -o "$T/sig"
expect_exit 4 "unknown key" \
    cardsign sign-digest --key nosuchkey --hash sha256 --in "$T/d" -o "$T/sig"
expect_exit 8 "a signing key refuses ECDH" \
    cardsign derive --key "$(key_id alice p256-sign)" --peer "$T/peer.pub" -o "$T/z"
head -c 20 /dev/zero >"$T/d20"
expect_exit 1 "a digest of the wrong length is refused" \
    cardsign sign-digest --key "$id" --hash sha256 --in "$T/d20" -o "$T/sig"

# LOCK logs out: the next signature needs the PIN again, asked once.
check "lock" cardsign lock
check "alice is logged out after lock" bash -c \
    "cardsign status --json | python3 -c 'import json,sys; sys.exit(any(t[\"logged_in\"] for t in json.load(sys.stdin)))'"
set_pin "$FIXTURE_ALICE_PIN"
: >"$FAKE_PINENTRY_LOG"
check "sign after lock prompts through pinentry" \
    cardsign sign-digest --key "$id" --hash sha256 --in "$T/d" -o "$T/sig"
check "exactly one PIN prompt" test "$(prompts)" -eq 1
check "the prompt names the token" grep -q 'alice' "$FAKE_PINENTRY_LOG"
check "second signature needs no prompt" bash -c \
    "cardsign sign-digest --key $id --hash sha256 --in $T/d -o $T/sig && [ \$(grep -c ^GETPIN $FAKE_PINENTRY_LOG) -eq 1 ]"

# SIGHUP re-reads the tokens without dropping anything.
before=$(cardsign keys --json)
kill -HUP "$AGENT_PID"
for i in $(seq 1 50); do
	grep -q 're-reading tokens' "$T/agent.log" && break
	sleep 0.1
done
check "SIGHUP is logged" grep -q 're-reading tokens' "$T/agent.log"
check "the agent still runs after SIGHUP" kill -0 "$AGENT_PID"
check "the same keys after SIGHUP" test "$(cardsign keys --json)" = "$before"
check "still logged in after SIGHUP" \
    cardsign sign-digest --key "$id" --hash sha256 --in "$T/d" -o "$T/sig"
finish
