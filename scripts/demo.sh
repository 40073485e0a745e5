#!/usr/bin/env bash
# The cardagent demo on a fresh Debian machine: installs dependencies,
# builds, creates a SoftHSM token holding a demo PKI (PIV-like signing and
# key-management certificates for alice@example.org), starts the agent,
# logs in, lists keys, signs and verifies a message, and decrypts a message
# encrypted to the token's key-management certificate.
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

say "Signing the message with alice's PIV-like signing key (RSA-2048)"
openssl dgst -sha256 -binary "$work/message.txt" >"$work/digest"
"$bin/cardsign" sign-digest --key 'pkcs11:token=alice;object=rsa2048-sign' \
    --hash sha256 --in "$work/digest" -o "$work/message.sig"
echo "signature: $(stat -c %s "$work/message.sig") bytes"
say "Verifying the signature and alice's certificate chain with OpenSSL"
openssl verify -CAfile "$pki/root.pem" -untrusted "$pki/intermediate.pem" \
    "$pki/alice-rsa2048-sign.pem"
openssl x509 -in "$pki/alice-rsa2048-sign.pem" -pubkey -noout >"$work/pub.pem"
openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/message.sig" \
    "$work/message.txt"

say "Signing with the P-256 key (ECDSA)"
"$bin/cardsign" sign-digest --key 'pkcs11:token=alice;object=p256-sign' \
    --hash sha256 --in "$work/digest" -o "$work/message.ecsig"
openssl dgst -sha256 -verify "$pki/alice-p256-sign.pub.pem" \
    -signature "$work/message.ecsig" "$work/message.txt"

say "Encrypting the message to alice's key-management certificate (RSA-OAEP + AES-256)"
openssl rand 32 >"$work/cek"
openssl enc -aes-256-cbc -pbkdf2 -pass "file:$work/cek" -in "$work/message.txt" \
    -out "$work/message.enc"
openssl pkeyutl -encrypt -certin -inkey "$pki/alice-rsa2048-km.pem" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in "$work/cek" -out "$work/cek.wrapped"
rm "$work/cek"
say "Decrypting: the token unwraps the content key, OpenSSL decrypts"
"$bin/cardsign" unwrap --key 'pkcs11:token=alice;object=rsa2048-km' \
    --oaep sha256 --in "$work/cek.wrapped" -o "$work/cek"
openssl enc -d -aes-256-cbc -pbkdf2 -pass "file:$work/cek" \
    -in "$work/message.enc" | tee "$work/decrypted.txt"
cmp "$work/message.txt" "$work/decrypted.txt" && echo "decrypted message matches"

say "Locking the agent (logs out of every token)"
"$bin/cardsign" lock
"$bin/cardsign" status
rm -rf "$work"
say "Demo complete"
