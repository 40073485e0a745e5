#!/usr/bin/env bash
# The OpenSSL provider (build/lib/cardagent.so): the stock openssl command
# signs, decrypts and derives with agent keys named by "cardagent:ID" and
# "pkcs11:" URIs; the results are checked with openssl alone, without the
# provider, against the fixture's public keys and certificates.
. "$(dirname "$0")/lib.sh"

: "${CARDAGENT_LIB:?}"
PROV=(-provider-path "$CARDAGENT_LIB" -provider cardagent -provider default)

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" | check "login with --pin-stdin" \
    cardsign login --token "$(token_id alice)" --pin-stdin

check "openssl loads the provider" bash -c \
    "openssl list ${PROV[*]} -providers | grep -q 'status: active'"

echo "cardagent provider test message" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d256"
openssl dgst -sha384 -binary "$T/msg" >"$T/d384"

# pkeyutl signs a digest: the provider takes the hash from -pkeyopt
# digest or, without it, from the digest's length.
for label in rsa2048-sign p256-sign p384-sign; do
	id=$(key_id alice $label)
	pub=$PKI/alice-$label.pub.pem
	check "$label: pkeyutl -sign, digest from its length" bash -c "
	    openssl pkeyutl -sign ${PROV[*]} -inkey cardagent:$id \
	        -in $T/d256 -out $T/sig &&
	    openssl pkeyutl -verify -pubin -inkey $pub \
	        -pkeyopt digest:sha256 -in $T/d256 -sigfile $T/sig"
	check "$label: pkeyutl -sign -pkeyopt digest:sha384" bash -c "
	    openssl pkeyutl -sign ${PROV[*]} -inkey cardagent:$id \
	        -pkeyopt digest:sha384 -in $T/d384 -out $T/sig &&
	    openssl pkeyutl -verify -pubin -inkey $pub \
	        -pkeyopt digest:sha384 -in $T/d384 -sigfile $T/sig"
	check "$label: dgst -sign (digest computed in the provider)" bash -c "
	    openssl dgst -sha256 ${PROV[*]} -sign cardagent:$id \
	        -out $T/sig $T/msg &&
	    openssl dgst -sha256 -verify $pub -signature $T/sig $T/msg"
done

id=$(key_id alice rsa2048-sign)
pub=$PKI/alice-rsa2048-sign.pub.pem
for salt in digest max 20; do
	check "rsa2048-sign: pkeyutl PSS, salt length $salt" bash -c "
	    openssl pkeyutl -sign ${PROV[*]} -inkey cardagent:$id \
	        -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
	        -pkeyopt rsa_pss_saltlen:$salt -in $T/d256 -out $T/sig &&
	    openssl pkeyutl -verify -pubin -inkey $pub -pkeyopt digest:sha256 \
	        -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:auto \
	        -in $T/d256 -sigfile $T/sig"
done
head -c 17 "$T/msg" >"$T/d17"
expect_exit 1 "input of no digest's length is refused" \
    openssl pkeyutl -sign "${PROV[@]}" -inkey "cardagent:$id" -in "$T/d17" \
    -out "$T/sig"
expect_exit 1 "an unknown key id is refused" \
    openssl pkeyutl -sign "${PROV[@]}" -inkey "cardagent:nosuchkey" \
    -in "$T/d256" -out "$T/sig"

# CMS signing: the signer certificate must match the agent key
# (X509_check_private_key), and the SignerInfo must verify with openssl.
# The intermediate goes into the message: cms -verify takes untrusted
# chain certificates only from there.
for label in rsa2048-sign p256-sign; do
	check "$label: cms -sign with a pkcs11: URI verifies" bash -c "
	    openssl cms -sign ${PROV[*]} -in $T/msg -binary -nodetach \
	        -signer $PKI/alice-$label.pem \
	        -inkey 'pkcs11:token=alice;object=$label' \
	        -certfile $PKI/intermediate.pem -outform DER \
	        -out $T/signed.der &&
	    openssl cms -verify -inform DER -in $T/signed.der -binary \
	        -CAfile $PKI/root.pem -out $T/verified &&
	    cmp $T/msg $T/verified"
done
check "rsa2048-sign: cms -sign with PSS verifies" bash -c "
    openssl cms -sign ${PROV[*]} -in $T/msg -binary -nodetach \
        -signer $PKI/alice-rsa2048-sign.pem \
        -inkey cardagent:$(key_id alice rsa2048-sign) \
        -keyopt rsa_padding_mode:pss -certfile $PKI/intermediate.pem \
        -outform DER -out $T/signed.der &&
    openssl cms -verify -inform DER -in $T/signed.der -binary \
        -CAfile $PKI/root.pem -out $T/verified &&
    cmp $T/msg $T/verified"

# X.509 signing needs the signature's AlgorithmIdentifier from the
# provider, PSS parameters included.
check "p256-sign: req -x509 self-signs" bash -c "
    openssl req -new -x509 ${PROV[*]} -subj /CN=provider-test \
        -key 'pkcs11:token=alice;object=p256-sign' -out $T/self.pem &&
    openssl verify -CAfile $T/self.pem $T/self.pem"
check "rsa2048-sign: req -x509 self-signs with PSS" bash -c "
    openssl req -new -x509 ${PROV[*]} -subj /CN=provider-test \
        -key 'pkcs11:token=alice;object=rsa2048-sign' \
        -sigopt rsa_padding_mode:pss -out $T/self.pem &&
    openssl x509 -in $T/self.pem -noout -text | grep -q rsassaPss &&
    openssl verify -CAfile $T/self.pem $T/self.pem"

# With the provider loaded, OpenSSL may take it for operations on plain
# public keys (an EC public key imports into it, for ECDH peers): those
# must still work.
openssl dgst -sha256 -sign "$PKI/alice-p256-sign.key" -out "$T/sig" "$T/msg"
check "EC verification with the provider loaded" \
    openssl dgst -sha256 "${PROV[@]}" -verify "$PKI/alice-p256-sign.pub.pem" \
    -signature "$T/sig" "$T/msg"
check "ECDH with a software key and the provider loaded" \
    openssl pkeyutl -derive "${PROV[@]}" -inkey "$PKI/alice-p256-km.key" \
    -peerkey "$PKI/bob-p256-km.pub.pem" -out "$T/z"

# RSA decryption.
id=$(key_id alice rsa2048-km)
cert=$PKI/alice-rsa2048-km.pem
openssl rand 32 >"$T/cek"
openssl pkeyutl -encrypt -pubin -inkey "$PKI/alice-rsa2048-km.pub.pem" \
    -in "$T/cek" -out "$T/wrapped"
check "rsa2048-km: pkeyutl -decrypt PKCS#1 v1.5" bash -c "
    openssl pkeyutl -decrypt ${PROV[*]} -inkey cardagent:$id \
        -in $T/wrapped -out $T/out && cmp $T/cek $T/out"
openssl pkeyutl -encrypt -pubin -inkey "$PKI/alice-rsa2048-km.pub.pem" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in "$T/cek" -out "$T/wrapped"
check "rsa2048-km: pkeyutl -decrypt OAEP-SHA256" bash -c "
    openssl pkeyutl -decrypt ${PROV[*]} -inkey cardagent:$id \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
        -pkeyopt rsa_mgf1_md:sha256 -in $T/wrapped -out $T/out &&
    cmp $T/cek $T/out"
openssl cms -encrypt -aes256 -in "$T/msg" -binary -outform DER \
    -out "$T/enc.der" "$cert"
check "rsa2048-km: cms -decrypt" bash -c "
    openssl cms -decrypt ${PROV[*]} -inform DER -in $T/enc.der -binary \
        -recip $cert -inkey cardagent:$id -out $T/out &&
    cmp $T/msg $T/out"
openssl cms -encrypt -aes256 -in "$T/msg" -binary -outform DER \
    -recip "$cert" -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 \
    -out "$T/enc.der"
check "rsa2048-km: cms -decrypt, OAEP-SHA256 key transport" bash -c "
    openssl cms -decrypt ${PROV[*]} -inform DER -in $T/enc.der -binary \
        -recip $cert -inkey cardagent:$id -out $T/out &&
    cmp $T/msg $T/out"

# ECDH, raw and through CMS key agreement (X9.63 KDF in the provider).
for c in p256:P-256 p384:P-384; do
	label=${c%%:*}-km
	cert=$PKI/alice-$label.pem
	openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${c#*:}" \
	    -out "$T/peer.key" 2>/dev/null
	openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
	openssl pkeyutl -derive -inkey "$T/peer.key" \
	    -peerkey "$PKI/alice-$label.pub.pem" -out "$T/z.ref"
	check "$label: pkeyutl -derive equals OpenSSL's" bash -c "
	    openssl pkeyutl -derive ${PROV[*]} \
	        -inkey cardagent:$(key_id alice "$label") \
	        -peerkey $T/peer.pub -out $T/z && cmp $T/z.ref $T/z"
	openssl cms -encrypt -aes256 -in "$T/msg" -binary -outform DER \
	    -out "$T/enc.der" "$cert"
	check "$label: cms -decrypt (ECDH key agreement)" bash -c "
	    openssl cms -decrypt ${PROV[*]} -inform DER -in $T/enc.der -binary \
	        -recip $cert -inkey 'pkcs11:token=alice;object=$label' \
	        -out $T/out && cmp $T/msg $T/out"
done

# The agent's reason reaches openssl's error output.
cardsign lock >/dev/null 2>&1 || true
no_pin
expect_exit 1 "a locked token fails with the agent's reason" \
    openssl pkeyutl -sign "${PROV[@]}" -inkey \
    "cardagent:$(key_id alice p256-sign)" -in "$T/d256" -out "$T/sig"
check "the error carries the agent's reason" grep -q 'cardagent:.*PIN' "$T/out"

finish
