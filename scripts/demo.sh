#!/usr/bin/env bash
# The cardagent demo on a fresh Debian machine: installs dependencies,
# builds, creates a SoftHSM token holding a demo PKI (PIV-like signing and
# key-management certificates for alice@example.org), starts the agent,
# logs in, lists keys, and signs, verifies, encrypts and decrypts S/MIME
# messages and a file with the token's keys.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing dependencies (Debian packages)"
bash scripts/install-deps.sh
say "Building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$top/build/bin

demo=${DEMO_DIR:-$top/build/demo}
say "Creating the demo SoftHSM tokens and PKI in $demo"
tests/fixtures/make-tokens.sh "$demo" >/dev/null
. "$demo/env.sh"
pki=$demo/pki

say "Starting the agent"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$demo/run}
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
eval "$("$bin/cardagent" --module "$FIXTURE_MODULE")"
trap 'kill "$CARDAGENT_PID" 2>/dev/null || true' EXIT
"$bin/cardsign" status

say "Logging in to token 'alice' (demo PIN $FIXTURE_ALICE_PIN, given on stdin;"
echo "   without --pin-stdin the agent asks through pinentry)"
alice=$("$bin/cardsign" status --json | python3 -c \
    'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["label"]=="alice"][0])')
echo "$FIXTURE_ALICE_PIN" | "$bin/cardsign" login --token "$alice" --pin-stdin
"$bin/cardsign" keys

work=$(mktemp -d)
cat >"$work/message.txt" <<MSG
From: Alice Example <alice@example.org>
To: Bob Example <bob@example.org>
Subject: cardagent demo

Signed with a key that never left the token.
MSG

say "Signing the message as S/MIME with alice's PIV-like signing key (RSA-2048)"
"$bin/cardsign" smime sign --key 'pkcs11:token=alice;object=rsa2048-sign' \
    --certfile "$pki/intermediate.pem" -i "$work/message.txt" -o "$work/signed.eml"
sed -n '1,12p' "$work/signed.eml"
echo "   ..."

say "Verifying it: cardsign, and stock OpenSSL as the mail client would"
"$bin/cardsign" smime verify --ca-file "$pki/root.pem" --no-system-ca \
    -i "$work/signed.eml" -o "$work/verified.txt"
openssl cms -verify -CAfile "$pki/root.pem" -in "$work/signed.eml" \
    -out /dev/null

say "Encrypting a message to alice's key-management certificate (RSA-OAEP, AES-256-GCM)"
"$bin/cardsign" smime encrypt --to "$pki/alice-rsa2048-km.pem" --oaep sha256 \
    --cipher aes-256-gcm --no-self -i "$work/message.txt" \
    -o "$work/encrypted.eml"
sed -n '1,8p' "$work/encrypted.eml"
echo "   ..."

say "Decrypting it: the token unwraps the content key, cardsign decrypts"
"$bin/cardsign" smime decrypt -i "$work/encrypted.eml" -o "$work/decrypted.txt"
cat "$work/decrypted.txt"

say "The same with elliptic curves: ECDSA P-256 signature, ECDH P-256 encryption"
"$bin/cardsign" smime sign --key 'pkcs11:token=alice;object=p256-sign' \
    --certfile "$pki/intermediate.pem" -i "$work/message.txt" \
    -o "$work/signed-ec.eml"
"$bin/cardsign" smime verify --ca-file "$pki/root.pem" --no-system-ca \
    -i "$work/signed-ec.eml"
"$bin/cardsign" smime encrypt --to "$pki/alice-p256-km.pem" --no-self \
    -i "$work/message.txt" -o "$work/encrypted-ec.eml"
"$bin/cardsign" smime decrypt -i "$work/encrypted-ec.eml" | tail -n 1

say "Signing a file (detached CMS) and verifying it"
"$bin/cardsign" sign --key 'pkcs11:token=alice;object=p384-sign' \
    --certfile "$pki/intermediate.pem" "$work/message.txt" -o "$work/message.p7s"
"$bin/cardsign" verify --ca-file "$pki/root.pem" "$work/message.p7s" \
    "$work/message.txt"

say "Locking the agent (logs out of every token)"
"$bin/cardsign" lock
"$bin/cardsign" status
rm -rf "$work"
say "Demo complete"
