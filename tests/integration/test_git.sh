#!/usr/bin/env bash
# cardsign as git's gpg.x509.program: real git signs commits and tags with
# agent keys (git commit -S, git tag -s) and checks them through cardsign
# (git verify-commit, git verify-tag, git log --show-signature), as it
# would with gpgsm; gpgsm itself checks what cardsign signed, and the other
# way round.
. "$(dirname "$0")/lib.sh"

for tool in git openssl; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed (run scripts/install-deps.sh)"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
done

private_gnupg

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" |
    cardsign login --token "$(token_id alice)" --pin-stdin
printf '%s\n' "$FIXTURE_BOB_PIN" |
    cardsign login --token "$(token_id bob)" --pin-stdin
BOB_KEY=$(key_id bob rsa2048-sign)
sha1fp() {
	openssl x509 -noout -fingerprint -sha1 -in "$1" | sed 's/.*=//'
}
BOB_FPR=$(sha1fp "$PKI/bob-rsa2048-sign.pem" | tr -d :)

# git with nothing of the machine's or the user's configuration.
export HOME=$T/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
R=$T/repo
git -c init.defaultBranch=main init -q "$R"
g() { git -C "$R" "$@"; }
g config user.name "Bob Example"
g config user.email bob@example.org
g config gpg.format x509
g config gpg.x509.program "$CARDAGENT_BIN/cardsign"
g config user.signingkey "$BOB_KEY"

# The signer has its CAs in CARDSIGN_CA_FILE, so its signatures carry the
# intermediate; verifiers trust the root alone and no system CA.
export CARDSIGN_CA_FILE=$PKI/ca-chain.pem CARDSIGN_NO_SYSTEM_CA=1
v() { CARDSIGN_CA_FILE=$PKI/root.pem git -C "$R" "$@"; }

# --- signing and verifying commits and tags ----------------------------
echo hello >"$R/file"
g add file
check "git commit -S signs with the card" g commit -q -S -m "signed commit"
check "the commit carries a gpgsig header in gpgsm's armour" bash -c "
    git -C $R cat-file commit HEAD | grep -q '^gpgsig -----BEGIN SIGNED MESSAGE-----'"
expect_exit 0 "git verify-commit trusts it through the root alone" \
    v verify-commit HEAD
check "verify-commit names the signer" grep -q \
    'Good signature from "/CN=Bob Example/emailAddress=bob@example.org"' "$T/out"
expect_exit 0 "git log --show-signature" v log --show-signature -1
check "git log --show-signature shows a good signature" grep -q \
    '^cardsign: Good signature from "/CN=Bob Example' "$T/out"
expect_exit 0 "git log %G? %GS %GK %GF %GT" \
    v log -1 --format='%G?|%GS|%GK|%GF|%GT'
check "git reads it as good, by Bob, with his certificate, fully trusted" \
    grep -qx "G|/CN=Bob Example/emailAddress=bob@example.org|$BOB_FPR|$BOB_FPR|fully" \
    "$T/out"
check "git tag -s signs a tag" g tag -s -m "release 1" v1
check "the tag carries the signature" bash -c "
    git -C $R cat-file tag v1 | grep -q '^-----BEGIN SIGNED MESSAGE-----'"
expect_exit 0 "git verify-tag" v verify-tag v1

# --- what must fail -----------------------------------------------------
forged=$(g cat-file commit HEAD | sed 's/^signed commit$/forged commit/' |
    g hash-object -t commit -w --stdin)
expect_exit 1 "a commit changed under its signature fails verify-commit" \
    v verify-commit "$forged"
check "... as a BAD signature" grep -q '^cardsign: BAD signature' "$T/out"
expect_exit 0 "git log on the changed commit" v log -1 --format=%G? "$forged"
check "... which git reads as bad (B)" grep -qx B "$T/out"
forged_tag=$(g cat-file tag v1 | sed 's/^release 1$/release 2/' |
    g hash-object -t tag -w --stdin)
expect_exit 1 "a changed tag fails verify-tag" v verify-tag "$forged_tag"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/other.key" -subj "/CN=Other Root" -out "$T/other.pem" 2>/dev/null
expect_exit 1 "a verifier who does not trust the signer's CA: verify-commit fails" \
    env CARDSIGN_CA_FILE="$T/other.pem" git -C "$R" verify-commit HEAD
check "... saying the signer is not trusted" grep -q 'is not trusted' "$T/out"
expect_exit 0 "git log, untrusted" env CARDSIGN_CA_FILE="$T/other.pem" \
    git -C "$R" log -1 --format='%G?|%GT'
check "... which git reads as untrusted (U, undefined)" grep -qx 'U|undefined' \
    "$T/out"
expect_exit 1 "without CARDSIGN_CA_FILE nor system CAs nothing is trusted" \
    env -u CARDSIGN_CA_FILE git -C "$R" verify-commit HEAD

# --- which key: what user.signingkey may say ----------------------------
g config --unset user.signingkey
check "no user.signingkey: git's 'Name <email>' picks Bob's one signing key" \
    g commit -q -S --allow-empty -m "by e-mail"
expect_exit 0 "... and it verifies" v verify-commit HEAD
ALICE_FPR=$(sha1fp "$PKI/alice-p256-sign.pem")
g config user.signingkey "$ALICE_FPR"
check "user.signingkey a SHA-1 fingerprint with colons, as openssl prints it" \
    g commit -q -S --allow-empty -m "by fingerprint"
expect_exit 0 "... signed with that certificate" v log -1 --format='%G?|%GF'
check "... whose fingerprint git shows" grep -qx "G|$(tr -d : <<<"$ALICE_FPR")" \
    "$T/out"
g config user.signingkey "0x$(tr -d : <<<"$ALICE_FPR" | tail -c 9)"
check "user.signingkey gpgsm's certificate ID (0x and 8 digits)" \
    g commit -q -S --allow-empty -m "by certificate ID"
g config user.signingkey "pkcs11:token=alice;object=rsa3072-sign"
check "user.signingkey a PKCS#11 URI" \
    g commit -q -S --allow-empty -m "by URI"
expect_exit 0 "... verifies" v verify-commit HEAD
head=$(g rev-parse HEAD)
g config user.signingkey alice@example.org
expect_exit 128 "an address with several signing keys: the commit fails" \
    g commit -q -S --allow-empty -m "ambiguous"
check "... and HEAD stays" test "$(g rev-parse HEAD)" = "$head"
expect_exit 4 "... cardsign says why" bash -c \
    "echo x | cardsign --status-fd=2 -bsau alice@example.org"
check "... naming the way out" grep -q 'keys match .alice@example.org.; name one' \
    "$T/out"
g config user.signingkey "0x0123456789ABCDEF0123456789ABCDEF01234567"
expect_exit 128 "a fingerprint no key has: the commit fails" \
    g commit -q -S --allow-empty -m "no such certificate"

# --- a locked token and no PIN -------------------------------------------
g config user.signingkey "$BOB_KEY"
cardsign lock --token "$(token_id bob)"
no_pin
before=$(prompts)
before=${before:-0}
expect_exit 128 "token locked, no PIN to be had: git commit -S fails" \
    g commit -q -S --allow-empty -m "locked"
check "... after the agent asked for the PIN" test "$(prompts)" -gt "$before"
check "... and no commit was made" test "$(g rev-parse HEAD)" = "$head"
rc=0
echo payload | cardsign --status-fd=2 -bsau "$BOB_KEY" >"$T/sig.out" \
    2>"$T/sig.err" || rc=$?
check "... cardsign fails" test "$rc" -ne 0
check "... writes no signature" test ! -s "$T/sig.out"
check "... reports no SIG_CREATED" bash -c "! grep -q SIG_CREATED $T/sig.err"
check "... and says why" grep -q '^cardsign: no signature: .*PIN entry cancelled' \
    "$T/sig.err"
set_pin "$FIXTURE_BOB_PIN"
check "with the PIN back, git commit -S signs again" \
    g commit -q -S --allow-empty -m "unlocked"

# --- the gpgsm interface at the edges ------------------------------------
expect_exit 2 "--verify without the data is a usage error" \
    cardsign --status-fd=1 --verify "$T/sig.out"
expect_exit 2 "a status fd that is not open" \
    cardsign --status-fd=9 -bsau "$BOB_KEY"
head -c 100 /dev/urandom >"$T/garbage.sig"
expect_exit 1 "garbage is not a signature" bash -c \
    "echo x | cardsign --status-fd=1 --verify $T/garbage.sig -"

# --- gpgsm -----------------------------------------------------------------
if ! command -v gpgsm >/dev/null || ! command -v gpgconf >/dev/null; then
	echo "skip - gpgsm interop (gpgsm not installed)"
	finish
	exit
fi
# A private home: the fixture root trusted, no CRLs, no dirmngr, and a
# software copy of Bob's key, unprotected so that git's gpgsm never asks.
mkdir -m 700 "$GNUPGHOME"
printf 'disable-crl-checks\ndisable-dirmngr\n' >"$GNUPGHOME/gpgsm.conf"
# gpgsm 2.2.40 rejects about one PKCS#12 file in 40 whatever the passphrase
# ("data error at shrouded_key_bag.decrypted-text"): a new export has a new
# salt, so try a few.
gpgsm_import_bob() {
	local i
	for i in 1 2 3 4 5; do
		openssl pkcs12 -export -legacy -in "$PKI/bob-rsa2048-sign.pem" \
		    -inkey "$PKI/bob-rsa2048-sign.key" -passout pass: \
		    -out "$T/bob.p12" &&
		    gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 \
		    --import "$PKI/root.pem" "$PKI/intermediate.pem" \
		    "$T/bob.p12" 3</dev/null && return 0
		echo "gpgsm import failed, attempt $i"
	done
	return 1
}
check "gpgsm imports the fixture CAs and Bob's key" gpgsm_import_bob
echo "$(sha1fp "$PKI/root.pem") S" >"$GNUPGHOME/trustlist.txt"
check "cardsign signs a commit" g commit -q -S --allow-empty -m "for gpgsm"
expect_exit 0 "gpgsm as git's program verifies cardsign's commit" \
    g -c gpg.x509.program=gpgsm verify-commit HEAD
check "... as a good signature" grep -q 'Good signature from' "$T/out"
check "gpgsm as git's program signs a commit with Bob's software key" \
    g -c gpg.x509.program=gpgsm -c user.signingkey="$BOB_FPR" commit -q -S \
    --allow-empty -m "by gpgsm"
expect_exit 0 "cardsign verifies gpgsm's commit" v verify-commit HEAD
check "... as Bob's" grep -q 'Good signature from "/CN=Bob Example' "$T/out"
finish
