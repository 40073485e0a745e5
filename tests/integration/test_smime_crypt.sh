#!/usr/bin/env bash
# cardsign smime encrypt / decrypt: enveloped and authEnveloped S/MIME
# messages to RSA (PKCS#1 v1.5, OAEP) and EC (ECDH) certificates, opened
# with agent keys; checked against stock `openssl cms` both ways, with the
# private keys in files.
. "$(dirname "$0")/lib.sh"

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" |
    cardsign login --token "$(token_id alice)" --pin-stdin

# With MIME-Version where decryption puts it, the round trip is exact.
cat >"$T/msg" <<'EOF'
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: quarterly figures
Date: Mon, 2 Mar 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Dear Bob,

the secret figures are attached.
EOF
sed 's/$/\r/' "$T/msg" >"$T/msg.crlf"

# Decrypts $1 with openssl and the key file of alice's $2; the entity inside
# must carry the body.
openssl_decrypts() {
	openssl cms -decrypt -in "$1" -recip "$PKI/alice-$2.pem" \
	    -inkey "$PKI/alice-$2.key" -out "$T/ossl.out" &&
	    tr -d '\r' <"$T/ossl.out" | grep -q 'the secret figures'
}

# name | cardsign options | alice's key | what the message must show
CASES=(
	"rsa v1.5|--to $PKI/alice-rsa2048-km.pem|rsa2048-km|rsaEncryption"
	"rsa OAEP|--to $PKI/alice-rsa2048-km.pem --oaep sha256|rsa2048-km|rsaesOaep"
	"rsa aes-128-gcm|--to $PKI/alice-rsa2048-km.pem --cipher aes-128-gcm|rsa2048-km|aes-128-gcm"
	"rsa aes-256-gcm|--to $PKI/alice-rsa2048-km.pem --cipher aes-256-gcm|rsa2048-km|aes-256-gcm"
	"p256 ECDH|--to $PKI/alice-p256-km.pem|p256-km|sha256kdf"
	"p384 ECDH gcm|--to $PKI/alice-p384-km.pem --cipher aes-128-gcm|p384-km|sha256kdf"
	"rsa aes-128-cbc|--to $PKI/alice-rsa2048-km.pem --cipher aes-128-cbc|rsa2048-km|aes-128-cbc"
)
for c in "${CASES[@]}"; do
	IFS='|' read -r name opts key shows <<<"$c"
	# shellcheck disable=SC2086
	check "$name: encrypt" cardsign smime encrypt $opts --no-self \
	    -i "$T/msg" -o "$T/enc"
	check "$name: uses $shows" bash -c "openssl cms -cmsout -print \
	    -in $T/enc | grep -q $shows"
	check "$name: decrypt gives the message back" bash -c "
	    cardsign smime decrypt -i $T/enc -o $T/dec && cmp $T/msg $T/dec"
	check "$name: openssl cms -decrypt with the key file" \
	    openssl_decrypts "$T/enc" "$key"
done
check "gcm: smime-type=authEnveloped-data" bash -c "
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --cipher aes-256-gcm \
        --no-self -i $T/msg | grep -q 'smime-type=authEnveloped-data'"
check "cbc: smime-type=enveloped-data" bash -c "
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --no-self -i $T/msg |
    grep -q 'smime-type=enveloped-data'"
check "the outer header keeps From, To and Subject" bash -c "
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --no-self -i $T/msg |
    sed '/^\$/q' >$T/hdr && grep -q '^Subject: quarterly figures' $T/hdr &&
    grep -q '^From: Alice' $T/hdr && ! grep -q 'charset=utf-8' $T/hdr"
check "CRLF messages stay CRLF" bash -c "
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --no-self \
        -i $T/msg.crlf -o $T/enc &&
    cardsign smime decrypt -i $T/enc -o $T/dec && cmp $T/msg.crlf $T/dec"
check "stdin to stdout" bash -c "
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --no-self <$T/msg |
    cardsign smime decrypt >$T/dec && cmp $T/msg $T/dec"

# What stock openssl makes: the whole message becomes the content.
OSSL=(
	"aes256 v1.5|-aes256 $PKI/alice-rsa2048-km.pem"
	"aes256 OAEP|-aes256 -recip $PKI/alice-rsa2048-km.pem -keyopt rsa_padding_mode:oaep"
	"aes256 ECDH sha256kdf|-aes256 -recip $PKI/alice-p256-km.pem -keyopt ecdh_kdf_md:sha256"
	"aes128 ECDH P-384 sha1kdf|-aes128 $PKI/alice-p384-km.pem"
	"legacy 3DES|-des3 $PKI/alice-rsa2048-km.pem"
	"aes-256-gcm|-aes-256-gcm $PKI/alice-rsa2048-km.pem"
)
for c in "${OSSL[@]}"; do
	name=${c%%|*}
	# shellcheck disable=SC2086
	openssl cms -encrypt -in "$T/msg" -out "$T/ossl.enc" ${c#*|}
	check "openssl $name: cardsign decrypts" bash -c "
	    cardsign smime decrypt -i $T/ossl.enc -o $T/dec &&
	    grep -q '^Subject: quarterly figures' $T/dec &&
	    grep -q 'the secret figures' $T/dec"
done
openssl cms -encrypt -aes256 -in "$T/msg" -binary -outform DER \
    -out "$T/msg.p7m" "$PKI/alice-p256-km.pem"
check "binary DER .p7m: the content as it is" bash -c "
    cardsign smime decrypt -i $T/msg.p7m -o $T/dec && cmp $T/msg $T/dec"
openssl cms -encrypt -aes256 -in "$T/msg" -binary -outform PEM \
    -out "$T/msg.pem" "$PKI/alice-p256-km.pem"
check "PEM" bash -c "
    cardsign smime decrypt -i $T/msg.pem -o $T/dec && cmp $T/msg $T/dec"
# Streaming senders write indefinite lengths and the content in chunks.
for c in aes256 aes-256-gcm; do
	openssl cms -encrypt -$c -stream -in "$T/msg" -binary -outform DER \
	    -out "$T/stream.p7m" "$PKI/alice-rsa2048-km.pem"
	check "indefinite-length BER ($c)" bash -c "
	    cardsign smime decrypt -i $T/stream.p7m -o $T/dec &&
	    cmp $T/msg $T/dec"
done
base64 "$T/msg.p7m" >"$T/msg.b64"
check "bare base64" bash -c "
    cardsign smime decrypt -i $T/msg.b64 -o $T/dec && cmp $T/msg $T/dec"
openssl cms -encrypt -aes256 -in "$T/msg" "$PKI/alice-rsa2048-km.pem" |
    sed 's,application/pkcs7-mime,application/x-pkcs7-mime,' >"$T/legacy.enc"
check "legacy application/x-pkcs7-mime" bash -c "
    cardsign smime decrypt -i $T/legacy.enc -o $T/dec &&
    grep -q 'the secret figures' $T/dec"

# Several recipients, and recipients by e-mail address.
check "to bob and alice" cardsign smime encrypt --no-self \
    --to "$PKI/bob-p256-km.pem" --to "$PKI/alice-rsa2048-km.pem" \
    -i "$T/msg" -o "$T/enc"
check "two recipients" bash -c "
    test \$(openssl cms -cmsout -print -in $T/enc | grep -c 'version: [02]\$') -ge 2 ||
    test \$(openssl cms -cmsout -print -in $T/enc |
        grep -cE 'd.(ktri|kari):') -eq 2"
check "alice's agent key opens it" bash -c "
    cardsign smime decrypt -i $T/enc -o $T/dec && cmp $T/msg $T/dec"
check "so does bob's key file" openssl cms -decrypt -in "$T/enc" \
    -recip "$PKI/bob-p256-km.pem" -inkey "$PKI/bob-p256-km.key" -out /dev/null
mkdir "$T/certs"
cp "$PKI/alice-p256-km.pem" "$PKI/alice-p256-sign.pem" "$T/certs/"
cp "$PKI/bob-p256-km.pem" "$T/certs/bob.crt"
check "--to an address, from --certdir" cardsign smime encrypt --no-self \
    --certdir "$T/certs" --to alice@example.org --to bob@example.org \
    -i "$T/msg" -o "$T/enc"
check "its key-management certificate was chosen" \
    openssl_decrypts "$T/enc" p256-km
check "and the agent opens it" bash -c "
    cardsign smime decrypt -i $T/enc -o $T/dec && cmp $T/msg $T/dec"
expect_exit 4 "an address without a certificate" cardsign smime encrypt \
    --no-self --certdir "$T/certs" --to carol@example.org -i "$T/msg"
check "the default directory is under XDG_DATA_HOME" bash -c "
    mkdir -p $T/xdg/cardagent && cp -r $T/certs $T/xdg/cardagent/ &&
    XDG_DATA_HOME=$T/xdg cardsign smime encrypt --no-self \
        --to alice@example.org -i $T/msg -o $T/enc"

# The sender's own certificate.
check "--key adds the sender's certificate" cardsign smime encrypt \
    --key 'pkcs11:token=alice;object=rsa2048-km' \
    --to "$PKI/bob-p256-km.pem" -i "$T/msg" -o "$T/enc"
check "so alice reads what she sent to bob" bash -c "
    cardsign smime decrypt -i $T/enc -o $T/dec && cmp $T/msg $T/dec"
check "with her key file too" openssl_decrypts "$T/enc" rsa2048-km
expect_exit 2 "several key-management keys need --key or --no-self" \
    cardsign smime encrypt --to "$PKI/bob-p256-km.pem" -i "$T/msg"
check "the message says so" grep -q -- '--no-self' "$T/out"
expect_exit 8 "--key must name a key-management key" cardsign smime encrypt \
    --key 'pkcs11:token=alice;object=p256-sign' \
    --to "$PKI/bob-p256-km.pem" -i "$T/msg"

# Certificates nobody should encrypt to are refused, as gpgsm refuses
# them: a signing-only key usage, an expired one.
expect_exit 1 "a signing certificate is refused as a recipient" \
    cardsign smime encrypt --no-self --to "$PKI/alice-rsa2048-sign.pem" \
    -i "$T/msg" -o "$T/refused.enc"
check "  it says why" grep -q 'does not allow key encipherment' "$T/out"
check "  and writes nothing" test ! -e "$T/refused.enc"
expect_exit 1 "an EC signing certificate too" cardsign smime encrypt \
    --no-self --to "$PKI/alice-p256-sign.pem" -i "$T/msg"
check "  it says why" grep -q 'does not allow key agreement' "$T/out"
mkdir -p "$T/ca"
: >"$T/ca/index.txt"
echo 01 >"$T/ca/serial"
cat >"$T/ca/cnf" <<EOF
[ca]
default_ca = c
[c]
database = $T/ca/index.txt
new_certs_dir = $T/ca
serial = $T/ca/serial
default_md = sha256
policy = p
[p]
commonName = supplied
EOF
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/dave.key" \
    -subj /CN=dave -out "$T/dave.csr" 2>/dev/null
openssl ca -batch -config "$T/ca/cnf" -selfsign -keyfile "$T/dave.key" \
    -in "$T/dave.csr" -startdate 20200101000000Z -enddate 20210101000000Z \
    -out "$T/dave.pem" 2>/dev/null
expect_exit 1 "an expired certificate is refused" cardsign smime encrypt \
    --no-self --to "$T/dave.pem" -i "$T/msg"
check "  it says why" grep -q 'has expired' "$T/out"

# Messages the agent cannot or must not open.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/carol.key" \
    -subj /CN=carol -out "$T/carol.pem" 2>/dev/null
cardsign smime encrypt --no-self --to "$T/carol.pem" -i "$T/msg" \
    -o "$T/carol.enc"
expect_exit 4 "not encrypted to any agent key" cardsign smime decrypt \
    -i "$T/carol.enc" -o "$T/none"
check "says so" grep -q 'not encrypted to any of your keys' "$T/out"
cardsign smime encrypt --no-self --to "$PKI/alice-p256-km.pem" -i "$T/msg" \
    -o "$T/p256.enc"
expect_exit 4 "--key restricts the search" cardsign smime decrypt \
    --key 'pkcs11:token=alice;object=rsa2048-km' -i "$T/p256.enc"
head -c 300 "$T/p256.enc" >"$T/trunc.enc"
: >"$T/empty.enc"
head -c 2000 /dev/urandom >"$T/garbage.enc"
for bad in trunc empty garbage; do
	expect_exit 1 "$bad input is refused" cardsign smime decrypt \
	    -i "$T/$bad.enc" -o "$T/$bad.out"
	check "$bad input: no output file" test ! -e "$T/$bad.out"
done
openssl cms -encrypt -aes-256-gcm -binary -outform DER -in "$T/msg" \
    -out "$T/gcm.der" "$PKI/alice-rsa2048-km.pem"
check "an intact GCM message decrypts" cardsign smime decrypt \
    -i "$T/gcm.der" -o "$T/gcm.out"
# The ciphertext ends just before the 16-byte tag and its header.
size=$(stat -c %s "$T/gcm.der")
printf '\x5a' | dd of="$T/gcm.der" bs=1 seek=$((size - 40)) conv=notrunc \
    2>/dev/null
rm -f "$T/gcm.out"
expect_exit 1 "a changed GCM ciphertext fails the tag" cardsign smime decrypt \
    -i "$T/gcm.der" -o "$T/gcm.out"
check "and releases nothing" test ! -e "$T/gcm.out"
check "not even on stdout" bash -c "
    ! cardsign smime decrypt -i $T/gcm.der >$T/gcm.stdout 2>/dev/null &&
    test ! -s $T/gcm.stdout"
openssl cms -encrypt -aes-256-gcm -binary -outform DER -in "$T/msg" \
    -out "$T/gcm.der" "$PKI/alice-rsa2048-km.pem"
# The tag is the last 16 bytes: after the content, read last.
printf '\x5a' | dd of="$T/gcm.der" bs=1 seek=$((size - 3)) conv=notrunc \
    2>/dev/null
expect_exit 1 "a changed GCM tag fails" cardsign smime decrypt \
    -i "$T/gcm.der" -o "$T/gcm.out"
check "and releases nothing" test ! -e "$T/gcm.out"

# Signed, then encrypted.
openssl cms -sign -signer "$PKI/alice-p256-sign.pem" \
    -inkey "$PKI/alice-p256-sign.key" -certfile "$PKI/intermediate.pem" \
    -in "$T/msg" | openssl cms -encrypt -aes256 "$PKI/alice-rsa2048-km.pem" \
    >"$T/signed.enc"
expect_exit 0 "signed inside: --verify" cardsign smime decrypt --verify \
    --ca-file "$PKI/root.pem" -i "$T/signed.enc" -o "$T/signed.out"
check "reports the good signature" grep -q 'Good signature from.*Alice' \
    "$T/out"
check "and writes the signed content" bash -c "
    tr -d '\r' <$T/signed.out | grep -q 'the secret figures' &&
    ! grep -q 'pkcs7-signature' $T/signed.out"
expect_exit 12 "an untrusted signer fails" cardsign smime decrypt --verify \
    --ca-file "$T/carol.pem" -i "$T/signed.enc" -o "$T/untrusted.out"
check "and writes nothing" test ! -e "$T/untrusted.out"
check "without --verify the signed message is output as it is" bash -c "
    cardsign smime decrypt -i $T/signed.enc -o $T/dec 2>$T/err &&
    grep -q 'multipart/signed' $T/dec && grep -q -- '--verify' $T/err"
# The message's own header fields win over the outer copies.
printf 'From: Alice <alice@example.org>\nSubject: inner\n\nbody\n' >"$T/inner"
openssl cms -encrypt -aes256 -in "$T/inner" -out "$T/dup.eml" -subject outer \
    -from bob@example.org -to alice@example.org "$PKI/alice-rsa2048-km.pem"
cardsign smime decrypt -i "$T/dup.eml" -o "$T/dup.out"
check "one From and one Subject after decrypting" bash -c \
    "[ \$(grep -c '^From:' $T/dup.out) -eq 1 ] && [ \$(grep -c '^Subject:' $T/dup.out) -eq 1 ]"
check "the inner Subject wins" grep -q '^Subject: inner' "$T/dup.out"
check "outer fields the message lacks stay" grep -q '^To: alice@example.org' "$T/dup.out"

# An output that exists and is no regular file is written through, never
# renamed over (as root, that replaced /dev/null with a file).
check "-o /dev/null writes to the device" cardsign smime encrypt \
    --to "$PKI/alice-p256-km.pem" --no-self -i "$T/msg" -o /dev/null
check "  /dev/null is still a character device" test -c /dev/null
echo old >"$T/target"
ln -s "$T/target" "$T/link"
check "-o through a symlink writes its target" bash -c "
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --no-self -i $T/msg \
        -o $T/link && test -L $T/link && grep -q enveloped-data $T/target"
mkfifo "$T/fifo"
check "-o a named pipe writes into it" bash -c "
    cat $T/fifo >$T/from-fifo & r=\$!
    cardsign smime encrypt --to $PKI/alice-p256-km.pem --no-self -i $T/msg \
        -o $T/fifo && wait \$r && test -p $T/fifo && grep -q enveloped-data $T/from-fifo"

finish
