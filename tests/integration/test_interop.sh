#!/usr/bin/env bash
# S/MIME interoperability with the other stacks users run: GnuPG's gpgsm and
# NSS's cmsutil. What cardsign signs and encrypts with agent keys, they
# verify and decrypt (with software copies of the keys); what they sign and
# encrypt, cardsign verifies and decrypts with the agent.
#
# Gaps of the Debian 12 peers, measured on messages made by `openssl cms` as
# well, are skipped with the reason printed: neither gpgsm 2.2.40 nor NSS 3.87
# cmsutil decrypts RSAES-OAEP, AuthEnvelopedData (AES-GCM) or ECDH (kari)
# messages, and gpgsm cannot hold an EC key (it crashes importing an EC
# PKCS#12). Both verify every signature cardsign makes: RSA PKCS#1 v1.5,
# RSASSA-PSS and ECDSA.
. "$(dirname "$0")/lib.sh"

for tool in gpgsm gpgconf cmsutil certutil pk12util python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed (run scripts/install-deps.sh)"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
done

private_gnupg
nskip=0
skip() { nskip=$((nskip + 1)); echo "skip - $1 ($2)"; }

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" |
    cardsign login --token "$(token_id alice)" --pin-stdin

# --- gpgsm: private home, the fixture root trusted, never a prompt. The
# PKCS#12 passphrase and the keys' protection passphrase come from fd 3.
mkdir -m 700 "$GNUPGHOME"
echo allow-loopback-pinentry >"$GNUPGHOME/gpg-agent.conf"
echo pass >"$T/pw"
GPGSM=(gpgsm --batch --no-tty --disable-crl-checks --disable-dirmngr
    --pinentry-mode loopback --passphrase-fd 3)
gpgsm_() { "${GPGSM[@]}" "$@" 3<"$T/pw"; }
sha1fp() {
	openssl x509 -noout -fingerprint -sha1 -in "$1" | sed 's/.*=//'
}
check "gpgsm imports the fixture CAs" gpgsm_ --import "$PKI/root.pem" \
    "$PKI/intermediate.pem"
echo "$(sha1fp "$PKI/root.pem") S" >"$GNUPGHOME/trustlist.txt"

# --- NSS: private database, the root a trusted CA.
NSS=sql:$T/nss
mkdir "$T/nss"
check "NSS database with the fixture CAs" bash -c "
    certutil -N -d $NSS --empty-password &&
    certutil -A -d $NSS -n root -t C,C,C -i $PKI/root.pem &&
    certutil -A -d $NSS -n intermediate -t ,, -i $PKI/intermediate.pem"

# Software copies of keys for the peers: legacy PKCS#12 (3DES, SHA-1 MAC),
# the only kind gpgsm 2.2.40 reads.
p12() {
	openssl pkcs12 -export -legacy -in "$PKI/$1.pem" -inkey "$PKI/$1.key" \
	    -name "$1" -passout pass:pass -out "$T/$1.p12"
}

# split_signed MSG PART P7S: the signed entity of a multipart/signed
# message, with CRLF line ends as signed, and its signature as DER.
split_signed() {
	python3 - "$@" <<'EOF'
import base64, re, sys
d = open(sys.argv[1], 'rb').read()
bnd = re.search(rb'boundary="?([^";\r\n]+)"?', d).group(1)
delim = re.compile(rb'(?:^|\r?\n)--' + re.escape(bnd) + rb'(--)?[ \t]*(?:\r?\n|$)')
cuts = list(delim.finditer(d))
parts = [d[a.end():b.start()] for a, b in zip(cuts, cuts[1:])]
assert len(parts) == 2, 'not two parts'
crlf = lambda b: b.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
open(sys.argv[2], 'wb').write(crlf(parts[0]))
sig = crlf(parts[1])
hdr, body = sig.split(b'\r\n\r\n', 1)
assert re.search(rb'pkcs7-signature', hdr, re.I), 'no signature part'
open(sys.argv[3], 'wb').write(base64.b64decode(body))
EOF
}

# smime_der MSG DER: the CMS of an opaque or enveloped S/MIME message.
smime_der() {
	openssl cms -cmsout -in "$1" -outform DER -out "$2"
}

# nss_good OUT: cmsutil -D exits 0 whatever the signature; its report must
# name a good signature from the only signer.
nss_good() {
	grep -q 'signer0.status=GoodSignature' "$1" &&
	    ! grep -q 'status=' <(grep -v 'signer0.status=GoodSignature' "$1")
}
nss_verify_detached() {
	cmsutil -D -d "$NSS" -h 2 -n -c "$2" -i "$1" >"$T/nss.out" 2>&1 &&
	    cat "$T/nss.out" && nss_good "$T/nss.out"
}
nss_verify_opaque() {
	# With -h, the report and the content both go to the output.
	cmsutil -D -d "$NSS" -h 2 -i "$1" >"$T/nss.out" 2>&1 &&
	    cat "$T/nss.out" && nss_good "$T/nss.out" &&
	    tr -d '\r' <"$T/nss.out" | grep 'signed for the peers' >/dev/null
}
gpgsm_verify_detached() {
	gpgsm_ --status-fd 1 --verify "$1" "$2" >"$T/g.out" 2>&1 &&
	    cat "$T/g.out" && grep -q '^\[GNUPG:\] GOODSIG' "$T/g.out" &&
	    grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/g.out"
}
gpgsm_verify_opaque() {
	gpgsm_ --status-fd 1 --verify -o "$T/g.content" "$1" >"$T/g.out" \
	    2>&1 && cat "$T/g.out" && grep -q '^\[GNUPG:\] GOODSIG' "$T/g.out" &&
	    grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/g.out" &&
	    tr -d '\r' <"$T/g.content" | grep 'signed for the peers' >/dev/null
}

cat >"$T/msg" <<'EOF'
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: interop
Date: Mon, 23 Nov 2026 10:00:00 +0000

Hello Bob,

this is signed for the peers.
EOF
sed 's/$/\r/' "$T/msg" >"$T/msg.crlf"

# === 1, 2: cardsign signs; gpgsm and NSS verify. ===========================
# name | cardsign options
SIGNS=(
	"rsa2048|--key pkcs11:token=alice;object=rsa2048-sign"
	"rsa3072 sha512|--key pkcs11:token=alice;object=rsa3072-sign --hash sha512"
	"rsa2048 PSS|--key pkcs11:token=alice;object=rsa2048-sign --pss"
	"p256|--key pkcs11:token=alice;object=p256-sign"
	"p384 sha384|--key pkcs11:token=alice;object=p384-sign --hash sha384"
)
for c in "${SIGNS[@]}"; do
	IFS='|' read -r name opts <<<"$c"
	for eol in msg msg.crlf; do
		f=$T/s-${name// /-}-$eol
		# shellcheck disable=SC2086
		check "$name/$eol: cardsign smime sign" cardsign smime sign $opts \
		    --certfile "$PKI/intermediate.pem" -i "$T/$eol" -o "$f.eml"
		check "$name/$eol: split into entity and .p7s" split_signed \
		    "$f.eml" "$f.part" "$f.p7s"
		check "$name/$eol: gpgsm --verify (detached)" \
		    gpgsm_verify_detached "$f.p7s" "$f.part"
		check "$name/$eol: NSS cmsutil -D (detached)" \
		    nss_verify_detached "$f.p7s" "$f.part"
	done
	f=$T/s-${name// /-}-opaque
	# shellcheck disable=SC2086
	check "$name: cardsign smime sign --opaque" cardsign smime sign $opts \
	    --opaque --certfile "$PKI/intermediate.pem" -i "$T/msg" -o "$f.eml"
	check "$name: opaque to DER" smime_der "$f.eml" "$f.p7m"
	check "$name: gpgsm --verify (opaque)" gpgsm_verify_opaque "$f.p7m"
	check "$name: NSS cmsutil -D (opaque)" nss_verify_opaque "$f.p7m"
done
# The peers must see a forgery too, or the checks above prove nothing.
f=$T/s-rsa2048-msg
sed 's/signed for/forged for/' "$f.part" >"$T/forged.part"
check "gpgsm rejects a changed entity" bash -c "
    ! ${GPGSM[*]} --verify $f.p7s $T/forged.part 3<$T/pw 2>$T/g.err &&
    grep -q 'invalid signature' $T/g.err"
check "NSS reports a changed entity" bash -c "
    cmsutil -D -d $NSS -h 2 -n -c $T/forged.part -i $f.p7s |
    grep -q 'signer0.status=DigestMismatch'"

# === 3: gpgsm makes, cardsign reads. =======================================
# gpgsm encrypts with only alice's key-management certificate imported.
check "gpgsm imports alice's key-management certificate" gpgsm_ --import \
    "$PKI/alice-rsa2048-km.pem"
afp=$(sha1fp "$PKI/alice-rsa2048-km.pem" | tr -d :)
check "gpgsm --encrypt (DER) to alice" gpgsm_ --encrypt -r "$afp" \
    -o "$T/g-enc.p7m" "$T/msg.crlf"
check "cardsign decrypts gpgsm's DER .p7m" bash -c "
    cardsign smime decrypt -i $T/g-enc.p7m -o $T/dec && cmp $T/msg.crlf $T/dec"
# As a mail client sends it: gpgsm encrypts the MIME entity, the header
# stays outside.
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Alice,\r\n\r\nencrypted by gpgsm.\r\n' \
    >"$T/g-plain"
check "gpgsm --encrypt --base64 to alice@example.org" gpgsm_ --encrypt \
    --base64 -r alice@example.org -o "$T/g-enc.b64" "$T/g-plain"
{
	printf 'From: Bob <bob@example.org>\nTo: Alice <alice@example.org>\n'
	printf 'Subject: from gpgsm\nMIME-Version: 1.0\n'
	printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n'
	printf 'Content-Transfer-Encoding: base64\n'
	printf 'Content-Disposition: attachment; filename=smime.p7m\n\n'
	cat "$T/g-enc.b64"
} >"$T/g-enc.eml"
check "cardsign decrypts gpgsm's output as an S/MIME mail" bash -c "
    cardsign smime decrypt -i $T/g-enc.eml -o $T/dec &&
    sed '/^\$/q' $T/dec >$T/dec.hdr && cat $T/dec &&
    grep -q '^Subject: from gpgsm\$' $T/dec.hdr &&
    grep -q '^Content-Type: text/plain; charset=us-ascii\$' $T/dec.hdr &&
    grep -q '^encrypted by gpgsm.\$' $T/dec"
check "cardsign decrypts gpgsm's bare base64" bash -c "
    cardsign smime decrypt -i $T/g-enc.b64 -o $T/dec && cmp $T/g-plain $T/dec"

# gpgsm signs with bob's software key (issued by the fixture CA).
check "bob's signing key as legacy PKCS#12" p12 bob-rsa2048-sign
check "gpgsm imports bob's PKCS#12" gpgsm_ --import "$T/bob-rsa2048-sign.p12"
bfp=$(sha1fp "$PKI/bob-rsa2048-sign.pem" | tr -d :)
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Alice,\r\n\r\nsigned by gpgsm.\r\n' \
    >"$T/g-entity"
check "gpgsm --sign --detach" gpgsm_ --sign --detach --base64 -u "$bfp" \
    -o "$T/g-sig.b64" "$T/g-entity"
{
	printf 'From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\n'
	printf 'Subject: signed by gpgsm\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b1"\r\n\r\n'
	printf -- '--b1\r\n'
	cat "$T/g-entity"
	printf -- '\r\n--b1\r\n'
	printf 'Content-Type: application/pkcs7-signature; name=smime.p7s\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n'
	printf 'Content-Disposition: attachment; filename=smime.p7s\r\n\r\n'
	sed 's/$/\r/' "$T/g-sig.b64"
	printf -- '--b1--\r\n'
} >"$T/g-signed.eml"
VERIFY=(cardsign smime verify --ca-file "$PKI/root.pem" --no-system-ca)
check "cardsign smime verify: gpgsm's multipart/signed" bash -c "
    ${VERIFY[*]} -i $T/g-signed.eml -o $T/g.txt && cmp $T/g.txt $T/g-entity"
tr -d '\r' <"$T/g-signed.eml" >"$T/g-signed-lf.eml"
check "... saved with LF line ends" "${VERIFY[@]}" -i "$T/g-signed-lf.eml"
check "the report names bob" bash -c "
    ${VERIFY[*]} -i $T/g-signed.eml | grep -q bob@example.org"
base64 -d "$T/g-sig.b64" >"$T/g-sig.p7s"
check "cardsign verify: gpgsm's detached .p7s" cardsign verify \
    --ca-file "$PKI/root.pem" "$T/g-sig.p7s" "$T/g-entity"
check "gpgsm --sign (opaque DER)" gpgsm_ --sign -u "$bfp" \
    -o "$T/g-opaque.p7m" "$T/g-entity"
check "cardsign smime verify: gpgsm's opaque DER .p7m" bash -c "
    ${VERIFY[*]} -i $T/g-opaque.p7m -o $T/g.txt && cmp $T/g.txt $T/g-entity"
sed 's/signed by gpgsm/forged by gpgsm/' "$T/g-signed.eml" >"$T/g-forged.eml"
expect_exit 11 "cardsign: a changed gpgsm-signed message is bad" \
    "${VERIFY[@]}" -i "$T/g-forged.eml"

# === 4: NSS makes, cardsign reads. =========================================
check "NSS imports alice's key-management certificate" certutil -A \
    -d "$NSS" -n alice-km -t ,, -i "$PKI/alice-rsa2048-km.pem"
check "cmsutil -E -r alice@example.org" cmsutil -E -d "$NSS" \
    -r alice@example.org -i "$T/msg.crlf" -o "$T/n-enc.p7m"
check "cardsign decrypts NSS's DER" bash -c "
    cardsign smime decrypt -i $T/n-enc.p7m -o $T/dec && cmp $T/msg.crlf $T/dec"
{
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n'
	printf 'Content-Transfer-Encoding: base64\n\n'
	base64 "$T/n-enc.p7m"
} >"$T/n-enc.eml"
# The decrypted message takes the mail's LF line ends and MIME-Version.
check "cardsign decrypts NSS's as a legacy x-pkcs7-mime mail" bash -c "
    cardsign smime decrypt -i $T/n-enc.eml -o $T/dec &&
    grep -v '^MIME-Version: 1.0\$' $T/dec | cmp - $T/msg"

check "pk12util imports bob's signing key" pk12util -i \
    "$T/bob-rsa2048-sign.p12" -d "$NSS" -W pass -K ''
bnick=$(certutil -L -d "$NSS" | awk '/bob/ {print $1; exit}')
check "cmsutil -S (opaque)" cmsutil -S -d "$NSS" -N "$bnick" -G -P -Y NONE \
    -i "$T/g-entity" -o "$T/n-sig.p7m"
check "cardsign smime verify: NSS's opaque DER" bash -c "
    ${VERIFY[*]} -i $T/n-sig.p7m -o $T/n.txt && cmp $T/n.txt $T/g-entity"
check "cmsutil -S -T (detached)" cmsutil -S -T -d "$NSS" -N "$bnick" -G -P \
    -Y NONE -i "$T/g-entity" -o "$T/n-sig.p7s"
check "cardsign verify: NSS's detached .p7s" cardsign verify \
    --ca-file "$PKI/root.pem" "$T/n-sig.p7s" "$T/g-entity"
{
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg=sha-256; boundary="nss"\n\n'
	printf -- '--nss\n'
	tr -d '\r' <"$T/g-entity"
	printf -- '\n--nss\n'
	printf 'Content-Type: application/x-pkcs7-signature; name=smime.p7s\n'
	printf 'Content-Transfer-Encoding: base64\n\n'
	base64 "$T/n-sig.p7s"
	printf -- '--nss--\n'
} >"$T/n-signed.eml"
check "cardsign smime verify: NSS's .p7s in x-pkcs7-signature mail" \
    "${VERIFY[@]}" -i "$T/n-signed.eml"

# === 5: cardsign encrypts; gpgsm and NSS decrypt. ==========================
check "alice's key-management key as legacy PKCS#12" p12 alice-rsa2048-km
check "gpgsm imports alice's key-management key" gpgsm_ --import \
    "$T/alice-rsa2048-km.p12"
check "pk12util imports alice's key-management key" pk12util -i \
    "$T/alice-rsa2048-km.p12" -d "$NSS" -W pass -K ''
# name | cardsign options | gpgsm lacks it because | NSS lacks it because
ENCS=(
	"rsa v1.5 aes-256-cbc|--to $PKI/alice-rsa2048-km.pem||"
	"rsa v1.5 aes-128-cbc|--to $PKI/alice-rsa2048-km.pem --cipher aes-128-cbc||"
	"rsa OAEP|--to $PKI/alice-rsa2048-km.pem --oaep sha256|gpgsm 2.2.40 has no RSAES-OAEP|NSS 3.87 cmsutil has no RSAES-OAEP"
	"rsa aes-256-gcm|--to $PKI/alice-rsa2048-km.pem --cipher aes-256-gcm|gpgsm 2.2.40 has no AuthEnvelopedData|NSS 3.87 cmsutil has no AuthEnvelopedData"
	"p256 ECDH|--to $PKI/alice-p256-km.pem|gpgsm 2.2.40 has no ECDH and cannot import an EC key|NSS 3.87 cmsutil cannot decrypt ECDH"
)
for c in "${ENCS[@]}"; do
	IFS='|' read -r name opts nogpgsm nonss <<<"$c"
	f=$T/e-${name// /-}
	# shellcheck disable=SC2086
	check "$name: cardsign smime encrypt" cardsign smime encrypt $opts \
	    --no-self -i "$T/msg" -o "$f.eml"
	check "$name: to DER" smime_der "$f.eml" "$f.p7m"
	if [ -n "$nogpgsm" ]; then
		skip "$name: gpgsm --decrypt" "$nogpgsm"
	else
		check "$name: gpgsm --decrypt" bash -c "
		    ${GPGSM[*]} --decrypt -o $f.g $f.p7m 3<$T/pw &&
		    tr -d '\r' <$f.g | grep -q 'signed for the peers'"
	fi
	if [ -n "$nonss" ]; then
		skip "$name: NSS cmsutil -D" "$nonss"
	else
		check "$name: NSS cmsutil -D" bash -c "
		    cmsutil -D -d $NSS -i $f.p7m -o $f.n &&
		    tr -d '\r' <$f.n | grep -q 'signed for the peers'"
	fi
done

echo "$nskip skipped"
finish
