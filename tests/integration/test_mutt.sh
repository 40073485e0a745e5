#!/usr/bin/env bash
# The mutt settings in docs/mutt.md, run as mutt runs them: the commands
# with mutt's %-expansions done, their outputs checked with the OpenSSL
# commands of mutt's stock smime.rc.
. "$(dirname "$0")/lib.sh"

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice)" --pin-stdin

# A MIME entity as mutt writes it before signing: LF line ends.
printf 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nHello from mutt.\nSecond line.\n' >"$T/entity"
key="pkcs11:token=alice;object=rsa2048-sign"
# What receivers check: the entity as it travels, with CRLF line ends.
sed 's/$/\r/' "$T/entity" >"$T/entity.crlf"

# smime_sign_command, %d=sha256 %i=intermediates %f=entity
sh -c "cardsign sign --entity --hash sha256 --key '$key' --certfile $PKI/intermediate.pem $T/entity -o -" >"$T/sig.der"
check "sign command writes a DER signature to stdout" test -s "$T/sig.der"
check "mutt's openssl verify command accepts it" openssl smime -verify \
    -inform DER -in "$T/sig.der" -content "$T/entity.crlf" -CAfile "$PKI/root.pem" -out /dev/null
check "so does smime_verify_command with cardsign" \
    cardsign verify --entity --ca-file "$PKI/root.pem" "$T/sig.der" "$T/entity"
check "the EC key signs for mutt too" sh -c "cardsign sign --entity --hash sha384 \
    --key 'pkcs11:token=alice;object=p384-sign' --certfile $PKI/intermediate.pem \
    $T/entity -o - >$T/sig-ec.der && openssl smime -verify -inform DER -in $T/sig-ec.der \
    -content $T/entity.crlf -CAfile $PKI/root.pem -out /dev/null"
printf 'Content-Type: text/plain\n\nchanged\n' >"$T/other"
expect_exit 11 "a different entity does not verify" \
    cardsign verify --entity --ca-file "$PKI/root.pem" "$T/sig.der" "$T/other"

# smime_encrypt_command as docs/mutt.md gives it (no card needed), then
# smime_decrypt_command with %f = the DER file mutt extracted.
for c in alice-rsa2048-km alice-p256-km; do
	openssl cms -encrypt -aes256 -outform DER -in "$T/entity" \
	    "$PKI/$c.pem" >"$T/enc.der"
	check "$c: decrypt command gives the entity back" bash -c \
	    "cardsign smime decrypt -i $T/enc.der >$T/dec && \
	     diff <(tr -d '\r' <$T/dec) <(tr -d '\r' <$T/entity)"
done

# smime_verify_opaque_command on an opaque signed message.
cardsign smime sign --opaque --key "$key" --certfile "$PKI/intermediate.pem" \
    -i "$T/entity" --entity -o "$T/opaque.eml"
check "opaque verify command prints the content" bash -c \
    "cardsign smime verify --ca-file $PKI/root.pem --no-system-ca -i $T/opaque.eml -o - | grep -q 'Hello from mutt'"
finish
