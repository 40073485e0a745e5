#!/usr/bin/env bash
# The Debian package, built the way docs/install.md says: a plain build of
# this source tree (no sanitizers, no tests) configured for /usr, then
# `cpack -G DEB`. Checks its contents and control fields, that dpkg would
# install it on this system (as root), and then runs what it installs,
# unpacked into a scratch root: the installed agent serves the SoftHSM
# fixture, the installed cardsign (with the installed OpenSSL provider)
# lists keys and signs a file that `openssl cms -verify` accepts, the
# installed PKCS#11 module shows the tokens, and a small program builds
# against the installed header and library through pkg-config.
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$TESTS_SRC/.." && pwd)
B=$T/build
MA=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)
LIBDIR=usr/lib/$MA

for tool in cmake cpack dpkg-deb dpkg-shlibdeps readelf pkg-config cc; do
	check "$tool is installed (scripts/install-deps.sh)" command -v "$tool"
done

# ---- build and package ----
check "configure a plain build for /usr" cmake -S "$SRC" -B "$B" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DCARDAGENT_TESTS=OFF -DCARDAGENT_SANITIZE=OFF -DCARDAGENT_WERROR=OFF
check "build it (-j2)" cmake --build "$B" -j2
check "cpack -G DEB" bash -c "cd '$B' && cpack -G DEB"
deb=$(ls "$B"/cardagent_*.deb 2>/dev/null | head -n 1 || true)
check "the .deb is there" test -f "$deb"
[ -f "$deb" ] || { finish; exit 1; }
echo "# $(basename "$deb"): $(stat -c %s "$deb") bytes"

# cpack refuses a build that must not ship (checked on the script it
# runs, in trees only configured: building them would take minutes).
cmake -S "$SRC" -B "$T/san" -DCMAKE_INSTALL_PREFIX=/usr \
    -DCARDAGENT_TESTS=OFF -DCARDAGENT_SANITIZE=ON >/dev/null 2>&1 || true
expect_exit 1 "cpack refuses to package a sanitizer build" \
    cmake -DCPACK_GENERATOR=DEB -P "$T/san/cpack-check.cmake"
check "  saying why" grep -q 'sanitizer' "$T/out"
cmake -S "$SRC" -B "$T/local" -DCARDAGENT_TESTS=OFF >/dev/null 2>&1 || true
expect_exit 1 "and a .deb of a build for /usr/local" \
    cmake -DCPACK_GENERATOR=DEB -P "$T/local/cpack-check.cmake"

# ---- contents ----
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' \
    >"$T/contents"
has() { grep -qx "$1" "$T/contents"; }
for f in /usr/bin/cardagent /usr/bin/cardsign \
    "/$LIBDIR/libcardagent.so.0" "/$LIBDIR/libcardagent.so" \
    "/$LIBDIR/pkgconfig/cardagent.pc" \
    /usr/include/cardagent/cardagent.h /usr/include/cardagent/msg.h \
    /usr/include/cardagent/buf.h /usr/include/cardagent/secret.h \
    "/$LIBDIR/ossl-modules/cardagent.so" \
    "/$LIBDIR/pkcs11/cardagent-pkcs11.so" \
    /usr/share/p11-kit/modules/cardagent.module \
    /usr/lib/systemd/user/cardagent.socket \
    /usr/lib/systemd/user/cardagent.service \
    /usr/lib/udev/rules.d/70-cardagent.rules \
    /usr/share/doc/cardagent/README.md \
    /usr/share/doc/cardagent/install.md; do
	check "ships $f" has "$f"
done
for f in "$SRC"/docs/man/*.[1-8]; do
	[ -e "$f" ] || continue
	n=${f##*/}
	check "ships the man page $n" has "/usr/share/man/man${n##*.}/$n.gz"
done
for f in "$SRC"/client/completion/*; do
	[ -e "$f" ] || continue
	check "ships the bash completion ${f##*/}" \
	    has "/usr/share/bash-completion/completions/${f##*/}"
done
check "everything is under /usr (no conffiles)" bash -c \
    "! grep -v -e '^/usr' -e '^\$' '$T/contents'"
check "no test, fuzzing or benchmark program" bash -c \
    "! grep -E '/(test_|fuzz|cardagent-fuzz|libfaultmod|faultmod|p11check|vcac|cardagent-bench)' '$T/contents'"

# ---- control fields ----
field() { dpkg-deb -f "$deb" "$1"; }
check "Package: cardagent" test "$(field Package)" = cardagent
check "Section: utils" test "$(field Section)" = utils
check "a Maintainer" test -n "$(field Maintainer)"
check "a Description" test -n "$(field Description)"
check "Depends, from dpkg-shlibdeps: libc6, libssl3, libp11-kit0" bash -c "
    d='$(field Depends)'; case \$d in *libc6*) ;; *) exit 1;; esac
    case \$d in *libssl3*) ;; *) exit 1;; esac
    case \$d in *libp11-kit0*) ;; *) exit 1;; esac"
check "Recommends pcscd, OpenSC, a pinentry, p11-kit" bash -c "
    r='$(field Recommends)'
    for p in pcscd 'opensc-pkcs11 | opensc' 'pinentry-gnome3 | pinentry-curses' p11-kit; do
	case \$r in *\"\$p\"*) ;; *) exit 1;; esac
    done"
check "Suggests softhsm2" test "$(field Suggests)" = softhsm2
echo "# Depends: $(field Depends)"

if [ "$(id -u)" = 0 ]; then
	check "dpkg -i --dry-run: it would install on this system" \
	    dpkg --dry-run -i "$deb"
else
	echo "# skipped dpkg -i --dry-run: not root"
fi

# ---- the installed files, unpacked ----
R=$T/root
check "dpkg -x into a scratch root" dpkg -x "$deb" "$R"
for f in usr/bin/cardagent usr/bin/cardsign "$LIBDIR/libcardagent.so.0" \
    "$LIBDIR/ossl-modules/cardagent.so" "$LIBDIR/pkcs11/cardagent-pkcs11.so"; do
	check "$f: no sanitizer runtime, no debug info (stripped)" bash -c "
	    ! readelf -d '$R/$f' | grep -Eq 'lib(a|ub|l|t)san' &&
	    ! readelf -S '$R/$f' | grep -q '\.debug_info'"
done
check "libcardagent's SONAME is libcardagent.so.0" bash -c \
    "readelf -d '$R/$LIBDIR/libcardagent.so.0' | grep -q 'SONAME.*\[libcardagent.so.0\]'"
check "the udev rules are the source's" cmp "$SRC/udev/70-cardagent.rules" \
    "$R/usr/lib/udev/rules.d/70-cardagent.rules"
check "the PKCS#11 module is where p11-kit resolves cardagent.module's name" \
    test "/$LIBDIR/pkcs11" = "$(pkg-config --variable=p11_module_path p11-kit-1)"
check "the provider is in OpenSSL's modules directory" \
    test "/$LIBDIR/ossl-modules" = "$(pkg-config --variable=modulesdir libcrypto)"

# The installed units: as installed, but for ExecStart's path into the
# scratch root; the installed man pages answer Documentation=man:.
mkdir -p "$T/units"
for u in cardagent.socket cardagent.service; do
	sed "s|^ExecStart=/usr/bin/|ExecStart=$R/usr/bin/|" \
	    "$R/usr/lib/systemd/user/$u" >"$T/units/$u"
done
check "the service runs /usr/bin/cardagent --foreground" \
    grep -qx 'ExecStart=/usr/bin/cardagent --foreground' \
    "$R/usr/lib/systemd/user/cardagent.service"
mkdir -m 700 "$T/run"
check "systemd-analyze --user verify: the installed units, not one warning" \
    bash -c "XDG_RUNTIME_DIR='$T/run' MANPATH='$R/usr/share/man' \
    systemd-analyze --user verify '$T/units/cardagent.socket' \
    '$T/units/cardagent.service' >'$T/verify.out' 2>&1 && ! test -s '$T/verify.out'"

# ---- running the installed programs ----
export LD_LIBRARY_PATH=$R/$LIBDIR
CS=$R/usr/bin/cardsign
check "cardsign finds the installed libcardagent.so.0" bash -c \
    "ldd '$CS' | grep -q 'libcardagent.so.0 => $R/$LIBDIR/libcardagent.so.0'"
check "the installed cardagent says its version" bash -c \
    "'$R/usr/bin/cardagent' --version | grep -q '^cardagent [0-9]'"
# start_agent runs $CARDAGENT_BIN/cardagent: the installed one, here.
CARDAGENT_BIN=$R/usr/bin start_agent
check "the installed agent serves the fixture's tokens" bash -c \
    "'$CS' status | grep -q alice"
check "the installed cardsign lists keys" bash -c \
    "'$CS' keys | grep -q rsa2048-sign"
alice=$("$CS" status --json | python3 -c \
    'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["label"]=="alice"][0])' ||
    true)
login() { printf '%s\n' "$FIXTURE_ALICE_PIN" | "$CS" login --token "$alice" --pin-stdin; }
check "login (--pin-stdin)" login
echo "signed by the packaged cardsign" >"$T/msg"
# cardsign finds the provider beside itself, as the package lays it out,
# wherever that was unpacked (here: not under /usr).
export CARDAGENT_PROVIDER_DIR=
check "unpacked anywhere, cardsign loads its own provider" "$CS" sign \
    --key 'pkcs11:token=alice;object=p256-sign' "$T/msg" -o "$T/x.p7s"
for key in rsa2048-sign p256-sign; do
	check "the installed cardsign signs a file ($key)" "$CS" sign \
	    --key "pkcs11:token=alice;object=$key" \
	    --certfile "$PKI/intermediate.pem" "$T/msg" -o "$T/$key.p7s"
	check "openssl cms -verify accepts it" openssl cms -verify -binary \
	    -inform DER -in "$T/$key.p7s" -content "$T/msg" \
	    -CAfile "$PKI/root.pem" -out /dev/null
done
check "the installed cardsign verifies it too" "$CS" verify \
    --ca-file "$PKI/root.pem" "$T/p256-sign.p7s" "$T/msg"
if command -v pkcs11-tool >/dev/null; then
	check "the installed PKCS#11 module shows the agent's tokens" bash -c \
	    "pkcs11-tool --module '$R/$LIBDIR/pkcs11/cardagent-pkcs11.so' -L |
	    grep -q alice"
fi

# ---- building against the installed library ----
export PKG_CONFIG_PATH=$R/$LIBDIR/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R
check "pkg-config knows cardagent $(pkg-config --modversion cardagent 2>/dev/null)" \
    pkg-config --exists cardagent
cflags=$(pkg-config --cflags cardagent || true)
libs=$(pkg-config --libs cardagent || true)
for h in cardagent.h secret.h msg.h buf.h; do
	printf '#include <cardagent/%s>\n' "$h" >"$T/h.c"
	check "<cardagent/$h> compiles on its own (-std=c99 -Wall -Wextra -Werror)" \
	    cc -std=c99 -Wall -Wextra -Werror $cflags -c "$T/h.c" -o "$T/h.o"
done
cat >"$T/prog.c" <<'C'
#include <stdio.h>
#include <cardagent/cardagent.h>

int
main(void)
{
	struct cac *c;
	struct ca_token *t;
	struct ca_key *k;
	size_t nt, nk, i;
	char err[256];

	if (cac_connect(NULL, &c, err, sizeof(err)) != CA_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (cac_status(c, &t, &nt) != CA_OK ||
	    cac_list_keys(c, &k, &nk) != CA_OK) {
		fprintf(stderr, "%s\n", cac_errmsg(c));
		return 1;
	}
	for (i = 0; i < nt; i++)
		printf("token %s\n", t[i].label);
	printf("%zu keys\n", nk);
	cac_tokens_free(t, nt);
	cac_keys_free(k, nk);
	cac_close(c);
	return 0;
}
C
check "a program builds with \$(pkg-config --cflags --libs cardagent)" \
    cc -std=c99 -Wall -Wextra -Werror $cflags "$T/prog.c" -o "$T/prog" $libs
check "it needs libcardagent.so.0" bash -c \
    "readelf -d '$T/prog' | grep -q 'NEEDED.*\[libcardagent.so.0\]'"
check "and talks to the agent" bash -c \
    "'$T/prog' >'$T/prog.out' && grep -q '^token alice' '$T/prog.out' &&
    ! grep -q '^0 keys' '$T/prog.out'"
stop_agent

finish
