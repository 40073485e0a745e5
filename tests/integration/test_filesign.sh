#!/usr/bin/env bash
# cardsign sign / verify: detached CMS signatures of files made with agent
# keys through the OpenSSL provider, checked by cardsign and by stock
# `openssl cms -verify`.
. "$(dirname "$0")/lib.sh"

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice)" --pin-stdin
head -c 3000000 /dev/urandom >"$T/release.tar"
cat "$PKI/intermediate.pem" >"$T/chain.pem"

for label in rsa2048-sign p256-sign p384-sign; do
	check "$label: cardsign sign" cardsign sign \
	    --key "pkcs11:token=alice;object=$label" --certfile "$T/chain.pem" \
	    "$T/release.tar" -o "$T/$label.p7s"
	check "$label: cardsign verify" cardsign verify --ca-file "$PKI/root.pem" \
	    "$T/$label.p7s" "$T/release.tar"
	check "$label: openssl cms -verify accepts it" openssl cms -verify \
	    -binary -inform DER -in "$T/$label.p7s" -content "$T/release.tar" \
	    -CAfile "$PKI/root.pem" -out /dev/null
done
check "PEM output" cardsign sign --key "pkcs11:token=alice;object=p256-sign" \
    --certfile "$T/chain.pem" --pem "$T/release.tar" -o "$T/pem.p7s"
check "PEM signature verifies" cardsign verify --ca-file "$PKI/root.pem" \
    "$T/pem.p7s" "$T/release.tar"
check "default output name is FILE.p7s" bash -c "cardsign sign \
    --key 'pkcs11:token=alice;object=rsa2048-sign' $T/release.tar && test -s $T/release.tar.p7s"

cp "$T/release.tar" "$T/release.orig"
printf 'x' | dd of="$T/release.tar" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_exit 11 "a changed file is a bad signature" cardsign verify \
    --ca-file "$PKI/root.pem" "$T/rsa2048-sign.p7s" "$T/release.tar"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/other.key" -subj /CN=other -out "$T/other.pem" 2>/dev/null
expect_exit 12 "an unknown CA is not trusted" cardsign verify \
    --ca-file "$T/other.pem" "$T/p256-sign.p7s" "$T/release.orig"
head -c 100 /dev/urandom >"$T/garbage.p7s"
expect_exit 1 "garbage is not a signature" cardsign verify \
    --ca-file "$PKI/root.pem" "$T/garbage.p7s" "$T/release.tar"
expect_exit 8 "a key-management key does not sign files" cardsign sign \
    --key "pkcs11:token=alice;object=rsa2048-km" "$T/release.tar"
# verify --json: one object on stdout, whatever the outcome, and the same
# exit codes (json_check: lib.sh).
fpr=$(sha256sum "$PKI/alice-p256-sign.der" | cut -d' ' -f1)
check "verify --json: good" bash -c "cardsign verify --json \
    --ca-file '$PKI/root.pem' '$T/p256-sign.p7s' '$T/release.orig' \
    >'$T/good.json'"
check "  valid, trusted, no error" json_check "$T/good.json" \
    'j["valid"] is True and j["trusted"] is True and j["error"] is None'
check "  the signer's subject and address" json_check "$T/good.json" \
    'len(j["signers"]) == 1 and j["signers"][0]["email"] ==
    "alice@example.org" and "alice@example.org" in j["signers"][0]["subject"]'
check "  the certificate's SHA-256 fingerprint" json_check "$T/good.json" \
    "j['signers'][0]['fingerprint_sha256'] == '$fpr'"
check "  the signing time" json_check "$T/good.json" \
    '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    j["signers"][0]["signing_time"])'
expect_exit 11 "verify --json: a changed file is still 11" bash -c \
    "cardsign verify --json --ca-file '$PKI/root.pem' '$T/p256-sign.p7s' \
    '$T/release.tar' 2>/dev/null"
check "  not valid, with the error" json_check "$T/out" \
    'not j["valid"] and not j["trusted"] and "BAD signature" in j["error"]
    and j["signers"][0]["email"] == "alice@example.org"'
expect_exit 12 "verify --json: an unknown CA is still 12" bash -c \
    "cardsign verify --json --ca-file '$T/other.pem' --no-system-ca \
    '$T/p256-sign.p7s' '$T/release.orig' 2>/dev/null"
check "  valid but not trusted" json_check "$T/out" \
    'j["valid"] and not j["trusted"] and "not trusted" in j["error"]'
expect_exit 1 "verify --json: garbage is still 1" bash -c \
    "cardsign verify --json --ca-file '$PKI/root.pem' '$T/garbage.p7s' \
    '$T/release.orig' 2>/dev/null"
check "  no signer, the error" json_check "$T/out" \
    'j["signers"] == [] and "not a CMS signature" in j["error"]'
finish
