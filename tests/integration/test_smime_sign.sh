#!/usr/bin/env bash
# cardsign smime sign / verify: S/MIME signed mail made with agent keys,
# in both forms, checked by cardsign and by stock `openssl cms -verify`;
# bad, untrusted and malformed messages get their own exit codes.
. "$(dirname "$0")/lib.sh"

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice)" --pin-stdin

# The test messages, LF and CRLF, and the entity each signs (CRLF).
hdr='From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: S/MIME test\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n'
printf "${hdr}\nHello Bob,\n\nthis is signed.\n" >"$T/lf.eml"
sed 's/$/\r/' "$T/lf.eml" >"$T/crlf.eml"
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob,\r\n\r\nthis is signed.\r\n' >"$T/want.txt"
printf "${hdr}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe\n" >"$T/mime.eml"
printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n' >"$T/want-mime.txt"

VERIFY=(cardsign smime verify --ca-file "$PKI/root.pem" --no-system-ca)

# sign_check NAME SIGN-OPTIONS...: signs both messages and checks each.
sign_check() {
	local name=$1 eol f
	shift
	for eol in lf crlf; do
		f=$T/$name-$eol
		check "$name/$eol: cardsign smime sign" cardsign smime sign \
		    "$@" --certfile "$PKI/intermediate.pem" -i "$T/$eol.eml" \
		    -o "$f.eml"
		check "$name/$eol: cardsign smime verify" "${VERIFY[@]}" \
		    -i "$f.eml" -o "$f.txt"
		check "$name/$eol: the content is the signed entity" \
		    cmp "$f.txt" "$T/want.txt"
		check "$name/$eol: openssl cms -verify accepts it" openssl cms \
		    -verify -CAfile "$PKI/root.pem" -in "$f.eml" -out /dev/null
		check "$name/$eol: From, To, Subject stay outside" bash -c "
		    sed '/^\r\?$/q' '$f.eml' >'$f.hdr' &&
		    grep -q '^From: Alice' '$f.hdr' && grep -q '^To: Bob' '$f.hdr' &&
		    grep -q '^Subject: S/MIME test' '$f.hdr' &&
		    grep -q 'multipart/signed.*micalg' '$f.hdr'"
	done
	f=$T/$name-opaque
	check "$name: --opaque" cardsign smime sign "$@" --opaque \
	    --certfile "$PKI/intermediate.pem" -i "$T/lf.eml" -o "$f.eml"
	check "$name: opaque has the signed-data type" grep -q \
	    'application/pkcs7-mime; smime-type=signed-data' "$f.eml"
	check "$name: cardsign verifies --opaque" "${VERIFY[@]}" \
	    -i "$f.eml" -o "$f.txt"
	check "$name: opaque content is the signed entity" \
	    cmp "$f.txt" "$T/want.txt"
	check "$name: openssl cms -verify accepts --opaque" openssl cms \
	    -verify -CAfile "$PKI/root.pem" -in "$f.eml" -out /dev/null
	f=$T/$name-crlf
	openssl cms -cmsout -print -in "$f.eml" >"$f.print"
	for attr in id-smime-aa-signingCertificateV2 id-smime-aa-encrypKeyPref \
	    'S/MIME Capabilities' signingTime messageDigest aes-256-cbc; do
		check "$name: attribute $attr" grep -q "$attr" "$f.print"
	done
}

for label in rsa2048-sign rsa3072-sign p256-sign p384-sign; do
	sign_check "$label" --key "pkcs11:token=alice;object=$label"
done
sign_check rsa2048-pss --key "pkcs11:token=alice;object=rsa2048-sign" --pss
check "--pss makes an RSASSA-PSS signature" grep -q rsassaPss \
    "$T/rsa2048-pss-crlf.print"
sign_check p256-sha384 --key "pkcs11:token=alice;object=p256-sign" \
    --hash sha384
check "--hash sha384 sets micalg" grep -q 'micalg="sha-384"' \
    "$T/p256-sha384-lf.eml"

# The key preference names the key-management cert of the signer's type.
serial() { openssl x509 -noout -serial -in "$1" | sed 's/.*=//'; }
check "encrypKeyPref names alice's RSA key-management cert" bash -c "
    openssl cms -cmsout -print -in '$T/rsa2048-sign-lf.eml' |
    grep -A12 encrypKeyPref | tr -d ' :\n' | grep -qi '$(serial "$PKI/alice-rsa2048-km.pem")'"

# Content-* fields move into the signed entity; MIME-Version is the new one.
check "a MIME message signs" cardsign smime sign \
    --key "pkcs11:token=alice;object=p256-sign" --certfile "$PKI/intermediate.pem" \
    -i "$T/mime.eml" -o "$T/mime.s"
check "its Content-* fields are signed" bash -c "
    cardsign smime verify --ca-file '$PKI/root.pem' --no-system-ca \
    -i '$T/mime.s' -o '$T/mime.txt' && cmp '$T/mime.txt' '$T/want-mime.txt'"
check "one MIME-Version only" test "$(grep -c '^MIME-Version' "$T/mime.s")" -eq 1

# Without --certfile the signer's chain comes from the CAs cardsign is
# told to trust: the intermediate rides along, so a verifier that has
# only the root accepts the signature.
cat "$PKI/root.pem" "$PKI/intermediate.pem" >"$T/cas.pem"
check "the chain from --ca-file" cardsign smime sign --no-system-ca \
    --key "pkcs11:token=alice;object=p256-sign" --ca-file "$T/cas.pem" \
    -i "$T/lf.eml" -o "$T/chain.s"
check "  carries the intermediate" bash -c "
    openssl cms -verify -CAfile '$PKI/root.pem' -purpose any \
    -in '$T/chain.s' -out /dev/null 2>/dev/null"
check "  but not the root" bash -c "
    openssl smime -pk7out -in '$T/chain.s' | openssl pkcs7 -print_certs |
    grep -c '^subject' | grep -qx 2"
check "without CAs the signer's certificate alone" cardsign smime sign \
    --no-system-ca --key "pkcs11:token=alice;object=p256-sign" \
    -i "$T/lf.eml" -o "$T/alone.s"
check "  which a root-only verifier cannot chain" bash -c "
    ! openssl cms -verify -CAfile '$PKI/root.pem' -purpose any \
    -in '$T/alone.s' -out /dev/null 2>/dev/null"

# --entity: a bare MIME entity as mutt passes it, all of it signed.
printf 'Content-Type: text/plain; charset=us-ascii\nContent-Disposition: inline\n\nfrom mutt\n' >"$T/entity"
check "--entity signs" bash -c "cardsign smime sign --entity \
    --key 'pkcs11:token=alice;object=p256-sign' \
    --certfile '$PKI/intermediate.pem' <'$T/entity' >'$T/entity.s'"
check "--entity output is the multipart/signed entity" bash -c "
    head -1 '$T/entity.s' | grep -q '^MIME-Version' && ! grep -q '^From:' '$T/entity.s'"
check "--entity round trip" bash -c "
    cardsign smime verify --ca-file '$PKI/root.pem' --no-system-ca \
    <'$T/entity.s' -o '$T/entity.txt' &&
    cmp '$T/entity.txt' <(sed 's/\$/\r/' '$T/entity')"

# What stock openssl signs with the key in a file verifies too.
openssl cms -sign -signer "$PKI/alice-p256-sign.pem" \
    -inkey "$PKI/alice-p256-sign.key" -certfile "$PKI/intermediate.pem" \
    -in "$T/want.txt" -out "$T/ossl.eml"
check "cardsign verifies openssl cms -sign" "${VERIFY[@]}" -i "$T/ossl.eml"
openssl cms -sign -nodetach -signer "$PKI/alice-p256-sign.pem" \
    -inkey "$PKI/alice-p256-sign.key" -certfile "$PKI/intermediate.pem" \
    -in "$T/want.txt" -outform DER -out "$T/ossl.p7m"
check "cardsign verifies a binary DER .p7m" "${VERIFY[@]}" -i "$T/ossl.p7m"
check "the output names the signer, key, time and chain" bash -c "
    ${VERIFY[*]} -i '$T/p384-sign-lf.eml' | tee '$T/report' &&
    grep -q 'alice@example.org' '$T/report' && grep -q 'key: EC 384' '$T/report' &&
    grep -q 'signed: ' '$T/report' && grep -q 'Intermediate CA' '$T/report'"

# Failures, each with its own exit code.
sed 's/this is signed/this is forged/' "$T/p256-sign-lf.eml" >"$T/forged.eml"
expect_exit 11 "a changed body is a bad signature" "${VERIFY[@]}" \
    -i "$T/forged.eml"
sed 's/this is signed/this is forged/' "$T/rsa2048-sign-crlf.eml" >"$T/forged2.eml"
expect_exit 11 "a changed CRLF body is a bad signature" "${VERIFY[@]}" \
    -i "$T/forged2.eml" -o "$T/forged.txt"
check "no content is written for a bad signature" test ! -e "$T/forged.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/other.key" -subj /CN=other -out "$T/other.pem" 2>/dev/null
expect_exit 12 "an unknown CA is not trusted" cardsign smime verify \
    --ca-file "$T/other.pem" --no-system-ca -i "$T/p256-sign-lf.eml"
expect_exit 12 "an unknown CA is not trusted (opaque)" cardsign smime verify \
    --ca-file "$T/other.pem" --no-system-ca -i "$T/p256-sign-opaque.eml"
openssl cms -sign -signer "$PKI/alice-rsa2048-km.pem" \
    -inkey "$PKI/alice-rsa2048-km.key" -certfile "$PKI/intermediate.pem" \
    -in "$T/want.txt" -out "$T/km.eml"
expect_exit 12 "a key-management certificate is not for signing" \
    "${VERIFY[@]}" -i "$T/km.eml"

# --ca-dir: a hashed directory; --crl-file: alice's p256 key revoked.
mkdir "$T/cadir"
cp "$PKI/root.pem" "$T/cadir/"
openssl rehash "$T/cadir" 2>/dev/null
check "--ca-dir" cardsign smime verify --ca-dir "$T/cadir" --no-system-ca \
    -i "$T/p256-sign-lf.eml"
crl() {
	local d=$T/crl-$1
	mkdir "$d"
	: >"$d/index.txt"
	if [ -n "$2" ]; then
		printf 'R\t%s\t%s\t%s\tunknown\t%s\n' \
		    "$(date -u -d '+1 year' +%y%m%d%H%M%SZ)" \
		    "$(date -u +%y%m%d%H%M%SZ)" \
		    "$(openssl x509 -noout -serial -in "$2" | sed 's/.*=//')" \
		    "$(openssl x509 -noout -subject -nameopt compat -in "$2" |
		    sed 's/^subject=//')" >"$d/index.txt"
	fi
	printf '[ca]\ndefault_ca=c\n[c]\ndatabase=%s\ndefault_md=sha256\ndefault_crl_days=30\n' \
	    "$d/index.txt" >"$d/cnf"
	openssl ca -gencrl -config "$d/cnf" -keyfile "$PKI/intermediate.key" \
	    -cert "$PKI/intermediate.pem" -out "$T/$1.crl" 2>/dev/null
	openssl ca -gencrl -config "$d/cnf" -keyfile "$PKI/root.key" \
	    -cert "$PKI/root.pem" -out "$d/root.crl" 2>/dev/null
	cat "$d/root.crl" >>"$T/$1.crl"
}
crl empty ""
crl revoked "$PKI/alice-p256-sign.pem"
check "--crl-file without the signer" "${VERIFY[@]}" --crl-file \
    "$T/empty.crl" -i "$T/p256-sign-lf.eml"
expect_exit 12 "--crl-file revoking the signer" "${VERIFY[@]}" --crl-file \
    "$T/revoked.crl" -i "$T/p256-sign-lf.eml"

head -c 2000 /dev/urandom >"$T/garbage"
expect_exit 1 "garbage is not a signed message" "${VERIFY[@]}" -i "$T/garbage"
head -c 1500 "$T/p256-sign-lf.eml" >"$T/truncated"
expect_exit 1 "a truncated message is not one" "${VERIFY[@]}" -i "$T/truncated"
head -c 900 "$T/p256-sign-opaque.eml" >"$T/truncated2"
expect_exit 1 "a truncated opaque message is not one" "${VERIFY[@]}" \
    -i "$T/truncated2"
: >"$T/empty"
expect_exit 1 "empty input is not a signed message" "${VERIFY[@]}" -i "$T/empty"
expect_exit 1 "an empty message is not signed" cardsign smime sign \
    --key "pkcs11:token=alice;object=p256-sign" -i "$T/empty" -o "$T/x"
printf 'not a header\n\nbody\n' >"$T/nohdr"
expect_exit 1 "a message without a header is refused" cardsign smime sign \
    --key "pkcs11:token=alice;object=p256-sign" -i "$T/nohdr" -o "$T/x"
expect_exit 8 "a key-management key does not sign" cardsign smime sign \
    --key "pkcs11:token=alice;object=rsa2048-km" -i "$T/lf.eml"
expect_exit 2 "--pss needs an RSA key" cardsign smime sign --pss \
    --key "pkcs11:token=alice;object=p256-sign" -i "$T/lf.eml"
# smime verify --json: one object on stdout instead of the report, the same
# exit codes (json_check: lib.sh).
fpr=$(sha256sum "$PKI/alice-p384-sign.der" | cut -d' ' -f1)
check "smime verify --json: good" bash -c "${VERIFY[*]} --json \
    -i '$T/p384-sign-lf.eml' -o '$T/json.txt' >'$T/good.json'"
check "  valid, trusted, no error" json_check "$T/good.json" \
    'j["valid"] is True and j["trusted"] is True and j["error"] is None'
check "  the signer: subject, address, fingerprint" json_check \
    "$T/good.json" "len(j['signers']) == 1 and
    j['signers'][0]['email'] == 'alice@example.org' and
    'Alice' in j['signers'][0]['subject'] and
    j['signers'][0]['fingerprint_sha256'] == '$fpr'"
check "  the signing time" json_check "$T/good.json" \
    '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    j["signers"][0]["signing_time"])'
check "  and the content still goes to -o" cmp "$T/json.txt" "$T/want.txt"
check "--json of the opaque form" bash -c "${VERIFY[*]} --json \
    -i '$T/p256-sign-opaque.eml' >'$T/opaque.json'"
check "  valid and trusted" json_check "$T/opaque.json" \
    'j["valid"] and j["trusted"] and len(j["signers"]) == 1'
openssl cms -sign -noattr -signer "$PKI/alice-p256-sign.pem" \
    -inkey "$PKI/alice-p256-sign.key" -certfile "$PKI/intermediate.pem" \
    -in "$T/want.txt" -out "$T/noattr.eml"
check "--json without a signing time" bash -c "${VERIFY[*]} --json \
    -i '$T/noattr.eml' >'$T/noattr.json'"
check "  says null" json_check "$T/noattr.json" \
    'j["valid"] and j["signers"][0]["signing_time"] is None'
expect_exit 11 "--json: a changed body is still 11" bash -c \
    "${VERIFY[*]} --json -i '$T/forged.eml' 2>/dev/null"
check "  not valid, with the error and the claimed signer" json_check \
    "$T/out" 'not j["valid"] and not j["trusted"] and
    "BAD signature" in j["error"] and len(j["signers"]) == 1'
expect_exit 12 "--json: an unknown CA is still 12" bash -c \
    "cardsign smime verify --json --ca-file '$T/other.pem' --no-system-ca \
    -i '$T/p256-sign-lf.eml' 2>/dev/null"
check "  valid but not trusted, and why" json_check "$T/out" \
    'j["valid"] and not j["trusted"] and "not trusted" in j["error"]'
expect_exit 1 "--json: garbage is still 1" bash -c \
    "${VERIFY[*]} --json -i '$T/garbage' 2>/dev/null"
check "  no signer, the error" json_check "$T/out" \
    'not j["valid"] and j["signers"] == [] and
    "not an S/MIME signed message" in j["error"]'
expect_exit 1 "--json: a missing file is still 1" bash -c \
    "${VERIFY[*]} --json -i '$T/nonexistent' 2>/dev/null"
check "  with the error" json_check "$T/out" \
    '"nonexistent" in j["error"]'
# smime decrypt --verify --json: the object on stderr, as stdout may carry
# the message.
openssl cms -encrypt -aes256 -in "$T/p256-sign-lf.eml" \
    "$PKI/alice-rsa2048-km.pem" >"$T/signed.enc"
check "smime decrypt --verify --json" bash -c "cardsign smime decrypt \
    --verify --json --ca-file '$PKI/root.pem' --no-system-ca \
    -i '$T/signed.enc' -o '$T/dec.txt' 2>'$T/dec.json'"
check "  reports the signer on stderr" json_check "$T/dec.json" \
    'j["valid"] and j["trusted"] and
    j["signers"][0]["email"] == "alice@example.org"'
check "  and writes what was signed" bash -c "
    grep -q 'this is signed' '$T/dec.txt' &&
    ! grep -q 'pkcs7-signature' '$T/dec.txt'"
finish
