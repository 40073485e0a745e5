#!/usr/bin/env bash
# Hostile input to the commands that read untrusted S/MIME and CMS:
# `cardsign smime decrypt`, `cardsign smime verify` and `cardsign verify`.
# Truncated or garbage CMS, absurd DER lengths, zero or a thousand
# recipients, deeply nested MIME, huge headers, empty and oversized input
# must each give a "cardsign:" error and a non-zero exit: never a crash, a
# hang or unbounded memory (issue 3). Every run is bounded by `timeout 20`
# and measured with `/usr/bin/time -f %M`; the peak RSS of each case is
# printed in its description so that the log documents the bounds reached.
. "$(dirname "$0")/lib.sh"

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" |
    cardsign login --token "$(token_id alice)" --pin-stdin

# Memory bounds, in MiB. The suite builds with ASan, whose shadow memory and
# allocator (quarantine, redzones) inflate RSS. Calibrated when this test was
# written (the baselines of each run are printed below): a small `smime
# decrypt` peaks at 16 MiB under ASan, a small `smime verify` at 46 MiB
# under ASan (the shadow of the 256 MiB buffer it allocates up front) and
# 6.5 MiB without; 10 MiB hostile inputs reach 50-70 MiB under ASan. An
# input of at most ~10 MiB gets SMALL, and so do the streamed ones of any
# size; LARGE is left for `cardsign verify`'s 300 MiB inputs.
if ldd "$CARDAGENT_BIN/cardsign" 2>/dev/null | grep libasan >/dev/null; then
	SMALL=128 LARGE=200
else
	SMALL=48 LARGE=120
fi

# run_bounded WANT NAME MAXMIB OUT CMD...: runs CMD (stdin /dev/null) under
# `timeout 20` and `/usr/bin/time`. WANT "fail": the exit status must be
# non-zero, not 124 (timeout) and below 128 (a signal); a number: exactly
# that status. A failure must print a "cardsign:" message and leave OUT
# ("-" for none) absent; a success must write OUT. No sanitizer report, and
# a peak RSS below MAXMIB MiB. Its stderr stays in $T/herr.
run_bounded() {
	local want=$1 name=$2 max=$3 out=$4 rc=0 kib mib why=
	shift 4
	[ "$out" = - ] || rm -f "$out"
	/usr/bin/time -f %M -o "$T/rss" timeout -k 5 20 "$@" \
	    </dev/null >"$T/hout" 2>"$T/herr" || rc=$?
	kib=$(tail -n 1 "$T/rss")
	case $kib in '' | *[!0-9]*) kib=0 ;; esac
	mib=$(((kib + 1023) / 1024))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		why="$why; HANG (killed by timeout 20)"
	elif [ "$rc" -ge 128 ]; then
		why="$why; CRASH (signal $((rc - 128)))"
	elif [ "$want" = fail ] && [ "$rc" -eq 0 ]; then
		why="$why; exit 0, wanted a failure"
	elif [ "$want" != fail ] && [ "$rc" -ne "$want" ]; then
		why="$why; exit $rc, wanted $want"
	fi
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|AddressSanitizer' \
	    "$T/herr"; then
		why="$why; SANITIZER REPORT"
	fi
	if [ "$rc" -ne 0 ]; then
		grep -q '^cardsign: ' "$T/herr" ||
		    why="$why; no \"cardsign:\" message"
		[ "$out" = - ] || [ ! -e "$out" ] ||
		    why="$why; output file $out left behind"
	elif [ "$out" != - ] && [ ! -e "$out" ]; then
		why="$why; no output file"
	fi
	[ "$mib" -lt "$max" ] ||
	    why="$why; MEMORY: peak RSS $mib MiB >= $max MiB"
	if [ -z "$why" ]; then
		pass "$name: exit $rc, peak RSS $mib MiB (< $max)"
	else
		failed "$name: exit $rc, peak RSS $mib MiB${why}"
		echo "    command: $*"
		head -n 25 "$T/herr" | cut -c 1-200 | sed "s/^/    /"
	fi
}
hostile() { run_bounded fail "$@"; }

# Both readers of S/MIME messages on file F, with -o.
VERIFY=(cardsign smime verify --ca-file "$PKI/root.pem" --no-system-ca)
both() {
	local name=$1 max=$2 f=$3
	hostile "decrypt $name" "$max" "$T/dec.out" \
	    cardsign smime decrypt -i "$f" -o "$T/dec.out"
	hostile "verify $name" "$max" "$T/ver.out" \
	    "${VERIFY[@]}" -i "$f" -o "$T/ver.out"
}
FILEVERIFY=(cardsign verify --ca-file "$PKI/root.pem" --no-system-ca)

# The input generators.
cat >"$T/gen.py" <<'EOF'
import base64, os, sys

def hdr(tag, n):
    if n < 0x80:
        return bytes([tag, n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b

def der(tag, content):
    return hdr(tag, len(content)) + content

def oid(s):
    p = [int(x) for x in s.split(".")]
    out = bytes([40 * p[0] + p[1]])
    for v in p[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return der(0x06, out)

def parse(buf, off=0):
    """A minimal DER reader: (tag, offset of content, length)."""
    tag, n = buf[off], buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return tag, off, n

def children(buf):
    out, off = [], 0
    while off < len(buf):
        tag, c, n = parse(buf, off)
        out.append((tag, buf[c:c + n]))
        off = c + n
    return out

def mime(data, smime_type):
    b64 = base64.encodebytes(data)
    return (b"MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; "
            b"smime-type=" + smime_type.encode() + b"; name=smime.p7m\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64)

ENVELOPED, SIGNED, DATA = ("1.2.840.113549.1.7.3", "1.2.840.113549.1.7.2",
                           "1.2.840.113549.1.7.1")

def w(path, data):
    with open(path, "wb") as f:
        f.write(data)

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "cut":            # cut FILE PREFIX: ten truncations
    data = open(a[0], "rb").read()
    for i in range(1, 11):
        w("%s.%d" % (a[1], i), data[:len(data) * i // 11])
elif cmd == "absurd":       # absurd DIR: lengths of 2^31-1, 2^62, 2^64
    d = a[0]
    tail = bytes(range(16))
    raw = {
        "seq31": b"\x30\x84\x7f\xff\xff\xff" + tail,
        "seq62": b"\x30\x88\x40" + bytes(7) + tail,
        "seq72": b"\x30\x89\x01" + bytes(8) + tail,
    }
    for name, t in (("env", ENVELOPED), ("sig", SIGNED)):
        for bits, h in (("31", b"\x84\x7f\xff\xff\xff"),
                        ("62", b"\x88\x40" + bytes(7))):
            raw["ci%s-%s" % (bits, name)] = (
                b"\x30" + h + oid(t) + b"\xa0" + h + b"\x30" + h +
                b"\x02\x01\x00" + b"\x31" + h + tail)
    # 100000 nested indefinite-length SEQUENCEs.
    raw["ber-deep"] = (b"\x30\x80" + oid(ENVELOPED) + b"\xa0\x80" +
                       b"\x30\x80" * 100000)
    for name, data in raw.items():
        w("%s/%s.der" % (d, name), data)
        w("%s/%s.eml" % (d, name), mime(data, "signed-data" if "sig" in name
                                        else "enveloped-data"))
elif cmd == "norecip":      # norecip IN.der OUT: RecipientInfos emptied
    ci = open(a[0], "rb").read()
    tag, c, n = parse(ci)
    ctype, expl = children(ci[c:c + n])
    assert expl[0] == 0xA0
    ((etag, env),) = children(expl[1])
    parts = children(env)
    out, dropped = b"", 0
    for t, v in parts:
        if t == 0x31 and not dropped:
            v, dropped = b"", len(children(v))
        out += der(t, v)
    assert dropped > 0
    w(a[1], der(0x30, der(ctype[0], ctype[1]) +
                der(0xA0, der(etag, out))))
elif cmd == "nested":       # nested DEPTH OUT: multipart/mixed DEPTH deep
    depth = int(a[0])
    inner = b"Content-Type: text/plain\n\nthe bottom\n"
    for i in range(depth):
        inner = (b"Content-Type: multipart/mixed; boundary=\"b%d\"\n\n"
                 b"--b%d\n" % (i, i) + inner + b"\n--b%d--\n" % i)
    w(a[1], b"MIME-Version: 1.0\n" + inner)
elif cmd == "signedwrap":   # signedwrap ENTITY SIGNED.eml OUT
    entity = open(a[0], "rb").read()
    signed = open(a[1], "rb").read().replace(b"\r\n", b"\n")
    i = signed.index(b"Content-Type: application/pkcs7-signature")
    j = signed.index(b"\n--", i)
    w(a[2], b"MIME-Version: 1.0\nContent-Type: multipart/signed; "
      b"protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
      b"boundary=\"SIG\"\n\n--SIG\n" + entity + b"\n--SIG\n" +
      signed[i:j] + b"\n--SIG--\n")
elif cmd == "headers":      # headers DIR
    d = a[0]
    w(d + "/longline", b"X" * (10 << 20))
    w(d + "/longfield", b"Subject: " + b"a" * (10 << 20))
    w(d + "/manyfields", b"".join(b"X-Field-%d: value\n" % i
                                  for i in range(100000)) +
      b"MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; "
      b"smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nAAAA\n")
elif cmd == "certs":        # certs N DIR: N self-signed P-256 certificates
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    for i in range(int(a[0])):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "r%d" % i)])
        cert = (x509.CertificateBuilder().subject_name(name)
                .issuer_name(name).public_key(key.public_key())
                .serial_number(i + 1)
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .sign(key, hashes.SHA256()))
        w("%s/c%04d.pem" % (a[1], i),
          cert.public_bytes(serialization.Encoding.PEM))
EOF
gen() { python3 "$T/gen.py" "$@"; }

# Calibration: a normal small message, decrypted and verified.
cat >"$T/msg" <<'EOF'
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: hostile input
MIME-Version: 1.0
Content-Type: text/plain

the secret figures.
EOF
cardsign smime encrypt --to "$PKI/alice-p256-km.pem" --no-self -i "$T/msg" \
    -o "$T/enc.eml"
cardsign smime sign --key 'pkcs11:token=alice;object=p256-sign' --opaque \
    --certfile "$PKI/intermediate.pem" -i "$T/msg" -o "$T/opaque.eml"
cardsign smime sign --key 'pkcs11:token=alice;object=p256-sign' \
    --certfile "$PKI/intermediate.pem" -i "$T/msg" -o "$T/detached.eml"
openssl cms -encrypt -aes256 -binary -outform DER -in "$T/msg" \
    -out "$T/enc.der" "$PKI/alice-rsa2048-km.pem"
head -c 4096 /dev/urandom >"$T/file"
cardsign sign --key 'pkcs11:token=alice;object=p256-sign' \
    --certfile "$PKI/intermediate.pem" "$T/file" -o "$T/file.p7s"
run_bounded 0 "baseline: a small message decrypts" "$SMALL" "$T/dec.out" \
    cardsign smime decrypt -i "$T/enc.eml" -o "$T/dec.out"
run_bounded 0 "baseline: a small signed message verifies" "$SMALL" \
    "$T/ver.out" "${VERIFY[@]}" -i "$T/opaque.eml" -o "$T/ver.out"
run_bounded 0 "baseline: a file signature verifies" "$SMALL" - \
    "${FILEVERIFY[@]}" "$T/file.p7s" "$T/file"

# Empty, one byte, garbage.
: >"$T/empty"
printf 'x' >"$T/one"
head -c 1024 /dev/urandom >"$T/garbage1k"
head -c $((1 << 20)) /dev/urandom >"$T/garbage1m"
for f in empty one garbage1k garbage1m; do
	both "$f input" "$SMALL" "$T/$f"
	hostile "cardsign verify: $f signature" "$SMALL" - \
	    "${FILEVERIFY[@]}" "$T/$f" "$T/file"
done
hostile "decrypt: empty stdin" "$SMALL" - cardsign smime decrypt

# Valid messages cut at ten points.
gen cut "$T/enc.eml" "$T/cut-enc"
gen cut "$T/enc.der" "$T/cut-der"
gen cut "$T/opaque.eml" "$T/cut-opaque"
gen cut "$T/detached.eml" "$T/cut-detached"
gen cut "$T/file.p7s" "$T/cut-p7s"
for i in 1 2 3 4 5 6 7 8 9 10; do
	hostile "decrypt: cardsign message cut at $i/11" "$SMALL" \
	    "$T/dec.out" cardsign smime decrypt -i "$T/cut-enc.$i" \
	    -o "$T/dec.out"
	hostile "decrypt: openssl DER cut at $i/11" "$SMALL" "$T/dec.out" \
	    cardsign smime decrypt -i "$T/cut-der.$i" -o "$T/dec.out"
	hostile "verify: opaque message cut at $i/11" "$SMALL" "$T/ver.out" \
	    "${VERIFY[@]}" -i "$T/cut-opaque.$i" -o "$T/ver.out"
	hostile "verify: multipart/signed cut at $i/11" "$SMALL" \
	    "$T/ver.out" "${VERIFY[@]}" -i "$T/cut-detached.$i" \
	    -o "$T/ver.out"
	hostile "cardsign verify: .p7s cut at $i/11" "$SMALL" - \
	    "${FILEVERIFY[@]}" "$T/cut-p7s.$i" "$T/file"
done

# Absurd DER lengths, raw and in an application/pkcs7-mime wrapper.
mkdir "$T/absurd"
gen absurd "$T/absurd"
for f in seq31 seq62 seq72 ci31-env ci62-env ci31-sig ci62-sig ber-deep; do
	for form in der eml; do
		both "absurd lengths $f.$form" "$SMALL" "$T/absurd/$f.$form"
	done
	hostile "cardsign verify: absurd lengths $f" "$SMALL" - \
	    "${FILEVERIFY[@]}" "$T/absurd/$f.der" "$T/file"
done

# Zero recipients: openssl's EnvelopedData with its RecipientInfos emptied.
gen norecip "$T/enc.der" "$T/norecip.der"
check "zero recipients: openssl parses the crafted message" \
    openssl cms -cmsout -inform DER -in "$T/norecip.der" -out /dev/null
hostile "decrypt: zero recipients (DER)" "$SMALL" "$T/dec.out" \
    cardsign smime decrypt -i "$T/norecip.der" -o "$T/dec.out"
python3 -c 'import base64,sys; d=open(sys.argv[1],"rb").read()
sys.stdout.buffer.write(b"MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\n"+base64.encodebytes(d))' \
    "$T/norecip.der" >"$T/norecip.eml"
hostile "decrypt: zero recipients (S/MIME)" "$SMALL" "$T/dec.out" \
    cardsign smime decrypt -i "$T/norecip.eml" -o "$T/dec.out"

# A thousand recipients, none of them alice, then alice among them.
mkdir "$T/certs"
start=$SECONDS
if python3 -c 'import cryptography' 2>/dev/null; then
	gen certs 1000 "$T/certs"
else
	openssl ecparam -name prime256v1 -genkey -noout -out "$T/r.key"
	seq -w 0 999 | xargs -P 2 -I{} openssl req -x509 -key "$T/r.key" \
	    -subj /CN=r{} -set_serial 1{} -days 30 -out "$T/certs/c{}.pem"
fi
openssl cms -encrypt -aes256 -in "$T/msg" -out "$T/many.eml" "$T"/certs/*.pem
openssl cms -encrypt -aes256 -in "$T/msg" -out "$T/many-alice.eml" \
    "$T"/certs/*.pem "$PKI/alice-rsa2048-km.pem"
echo "# 1000 certificates and two messages made in $((SECONDS - start)) s"
run_bounded 4 "decrypt: 1000 recipients, not alice" "$SMALL" "$T/dec.out" \
    cardsign smime decrypt -i "$T/many.eml" -o "$T/dec.out"
check "  says not encrypted to any of your keys" \
    grep -q 'not encrypted to any of your keys' "$T/herr"
run_bounded 0 "decrypt: 1000 recipients and alice's RSA key" "$SMALL" \
    "$T/dec.out" cardsign smime decrypt -i "$T/many-alice.eml" \
    -o "$T/dec.out"
check "  gives the message" grep -q 'the secret figures' "$T/dec.out"

# Deeply nested MIME, bare and as the signed part of multipart/signed.
gen nested 2000 "$T/nested.eml"
both "multipart/mixed nested 2000 deep" "$SMALL" "$T/nested.eml"
gen signedwrap <(tail -n +2 "$T/nested.eml") "$T/detached.eml" \
    "$T/nested-signed.eml"
both "multipart/signed over a 2000-deep multipart" "$SMALL" \
    "$T/nested-signed.eml"

# Huge header lines and many header fields.
gen headers "$T"
both "a 10 MiB line without a newline" "$SMALL" "$T/longline"
both "a 10 MiB Subject without a newline" "$SMALL" "$T/longfield"
both "100000 header fields" "$SMALL" "$T/manyfields"
hostile "cardsign verify: a 10 MiB line as the signature" "$SMALL" - \
    "${FILEVERIFY[@]}" "$T/longline" "$T/file"

# 300 MiB of zeros (a sparse file: no disk used), from a file and from
# stdin: messages are streamed, so this is refused as soon as its start is
# seen not to be S/MIME, in the memory of a small message.
truncate -s 300M "$T/big"
run_bounded fail "decrypt: a 300 MiB input" "$SMALL" "$T/dec.out" \
    cardsign smime decrypt -i "$T/big" -o "$T/dec.out"
check "  refused as not S/MIME" grep -q 'not an S/MIME' "$T/herr"
# shellcheck disable=SC2016
run_bounded fail "decrypt: a 300 MiB input on stdin" "$SMALL" "$T/dec.out" \
    bash -c 'exec cardsign smime decrypt -o "$1" <"$2"' - "$T/dec.out" \
    "$T/big"
check "  refused as not S/MIME" grep -q 'not an S/MIME' "$T/herr"
run_bounded fail "verify: a 300 MiB input" "$SMALL" "$T/ver.out" \
    "${VERIFY[@]}" -i "$T/big" -o "$T/ver.out"
check "  refused as not S/MIME" grep -q 'not an S/MIME' "$T/herr"
# shellcheck disable=SC2016
run_bounded fail "verify: a 300 MiB input on stdin" "$SMALL" "$T/ver.out" \
    bash -c 'exec "${@:3}" -o "$1" <"$2"' - "$T/ver.out" "$T/big" \
    "${VERIFY[@]}"
check "  refused as not S/MIME" grep -q 'not an S/MIME' "$T/herr"

# Good messages far larger than the memory bound: decryption and both
# forms of verification stream them (openssl makes them, holding them),
# and so does signing.
# openssl writes its MIME with LF ends, so the decrypted message has them.
python3 -c 'import sys; sys.stdout.write("Content-Type: text/plain\r\n\r\n")
sys.stdout.write(("x" * 76 + "\r\n") * (96 * 1024 * 1024 // 78))' >"$T/huge.txt"
openssl cms -encrypt -aes-256-gcm -in "$T/huge.txt" -binary \
    -out "$T/huge-enc.eml" "$PKI/alice-rsa2048-km.pem"
run_bounded 0 "decrypt: a 96 MiB AES-GCM message" "$SMALL" "$T/dec.out" \
    cardsign smime decrypt -i "$T/huge-enc.eml" -o "$T/dec.out"
check "  gives it back" cmp -s <(printf 'MIME-Version: 1.0\n'
    tr -d '\r' <"$T/huge.txt") "$T/dec.out"
rm -f "$T/huge-enc.eml" "$T/dec.out"
for form in opaque detached; do
	flag=-nodetach
	[ $form = opaque ] || flag=
	# shellcheck disable=SC2086
	openssl cms -sign $flag -binary -in "$T/huge.txt" -signer \
	    "$PKI/alice-rsa2048-sign.pem" -inkey "$PKI/alice-rsa2048-sign.key" \
	    -certfile "$PKI/intermediate.pem" -out "$T/huge-sig.eml"
	run_bounded 0 "verify: a 96 MiB $form signed message" "$SMALL" \
	    "$T/ver.out" "${VERIFY[@]}" -i "$T/huge-sig.eml" -o "$T/ver.out"
	check "  gives the content" cmp -s "$T/huge.txt" "$T/ver.out"
	rm -f "$T/huge-sig.eml" "$T/ver.out"
done
# cardsign signs them in the same memory too, both forms, and its
# signatures check.
for form in opaque detached; do
	flag=--opaque
	[ $form = opaque ] || flag=
	# shellcheck disable=SC2086
	run_bounded 0 "sign: a 96 MiB message, $form" "$SMALL" "$T/huge-sig.eml" \
	    cardsign smime sign --key 'pkcs11:token=alice;object=rsa2048-sign' \
	    $flag --certfile "$PKI/intermediate.pem" -i "$T/huge.txt" \
	    -o "$T/huge-sig.eml"
	check "  it verifies" "${VERIFY[@]}" -i "$T/huge-sig.eml" \
	    -o "$T/ver.out"
	check "  over the message" cmp -s "$T/huge.txt" "$T/ver.out"
	rm -f "$T/huge-sig.eml" "$T/ver.out"
done
rm -f "$T/huge.txt"

run_bounded fail "cardsign verify: a 300 MiB signature" "$LARGE" - \
    "${FILEVERIFY[@]}" "$T/big" "$T/file"
run_bounded fail "cardsign verify: a 300 MiB file under a good signature" \
    "$LARGE" - "${FILEVERIFY[@]}" "$T/file.p7s" "$T/big"
rm -f "$T/big"

finish
