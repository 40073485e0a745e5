"""Whole-process S/MIME and file-signing benchmarks against their peers in
the same run (issues 3 and 7): openssl with the key in a file, gpgsm with
gnupg-pkcs11-scd, openssl with libp11's engine and NSS's cmsutil, with
SoftHSM loaded and with cardagent-pkcs11.so, all on the same SoftHSM key.
Each table's commands take turns run by run, so this machine's slow and
fast phases hit them alike and the ratios between them hold.

Imported by report.py; bench/all.sh sets up the environment it reads
(a peer it could not set up comes with its reason in *_SKIP).
"""
import os
import subprocess
import sys
import time

from report import Goal, Row, Table

B = os.environ.get("BIN", "")
PKI = os.environ.get("PKI", "")
W = os.environ.get("WORK", "")
MOD = os.environ.get("FIXTURE_MODULE", "")
SCALE = int(os.environ.get("BENCH_SCALE", "1"))
SIGN_RUNS = int(os.environ.get("SIGN_RUNS", "150")) * SCALE
FILE_RUNS = int(os.environ.get("FILE_RUNS", "30")) * SCALE
DECRYPT_RUNS = int(os.environ.get("DECRYPT_RUNS", "9")) * SCALE
ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
KEY = "pkcs11:token=alice;object=rsa2048-sign"
# gpgsm through a warm gpg-agent + gnupg-pkcs11-scd: GPGSM_FPR is the
# SHA-1 fingerprint of alice's rsa2048-sign certificate. NSS: the
# databases with SoftHSM and with cardagent-pkcs11.so added (peers.sh).
GPGSM_FPR = os.environ.get("GPGSM_FPR", "")
NSS_DB = os.environ.get("NSS_DB", "")
NSS_AGENT_DB = os.environ.get("NSS_AGENT_DB", "")


def skip_of(var, have):
    """Why a peer is missing: "" when have, else its *_SKIP reason."""
    return "" if have else (os.environ.get(var) or "not set up")


GPGSM_SKIP = skip_of("GPGSM_SKIP", GPGSM_FPR)
NSS_SKIP = skip_of("NSS_SKIP", NSS_DB)
NSS_AGENT_SKIP = skip_of("NSS_AGENT_SKIP", NSS_AGENT_DB)
ENGINE_SKIP = "" if os.path.exists(ENGINE) else \
    "libp11's engine not installed (libengine-pkcs11-openssl)"


class Cmd:
    """A row to measure: key (for goals and notes), name, argv; or skip,
    why it cannot be measured here."""

    def __init__(self, key, name, argv, skip="", goals=()):
        self.key, self.name, self.argv = key, name, argv
        self.skip, self.goals = skip, goals


def run(argv, **kw):
    return subprocess.run(argv, check=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, **kw)


def rss_of(argv):
    """The peak RSS (KiB) of one run of argv."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    return int(r.stderr.strip().splitlines()[-1])


def compare(cmds, runs):
    """Rows of wall times in ms, the commands taking turns run by run. The
    peak-RSS run of each comes first, untimed: it is their warm-up too."""
    todo = [c for c in cmds if not c.skip]
    rss = {c.key: rss_of(c.argv) for c in todo}
    times = {c.key: [] for c in todo}
    for _ in range(runs):
        for c in todo:
            t0 = time.perf_counter()
            run(c.argv)
            times[c.key].append((time.perf_counter() - t0) * 1000)
    return [Row(c.key, c.name, skip=c.skip) if c.skip else
            Row(c.key, c.name, times[c.key], rss[c.key], c.goals)
            for c in cmds]


def gpgsm(*args):
    """A gpgsm command line for the private GNUPGHOME; output on stdout."""
    return ["gpgsm", "--batch"] + list(args)


def cmsutil_sign(db, *args):
    """cmsutil signing with alice's rsa2048-sign key through db, with the
    attributes a mail client adds (signing time, S/MIME capabilities)."""
    return ["cmsutil", "-S", "-d", db, "-N", "alice:rsa2048-sign", "-H",
            "SHA256", "-G", "-P"] + list(args)


def engine(*args):
    """openssl cms with alice's key through libp11's engine on SoftHSM."""
    return ["openssl", "cms", "-engine", "pkcs11", "-keyform", "engine",
            "-signer", PKI + "/alice-rsa2048-sign.pem", "-inkey",
            KEY + ";type=private;pin-value=123456"] + list(args)


def sign_table():
    # Every program writes its result to stdout (/dev/null): like for
    # like, as gpgsm has no output file of its own. (cardsign -o adds an
    # fsync before its rename, ~0.4 ms, which openssl -out does not do.)
    msg = os.path.join(W, "m.eml")
    with open(msg, "w") as f:
        f.write("From: alice@example.org\nTo: bob@example.org\n"
                "Subject: bench\n\n" + ("x" * 72 + "\n") * 14)
    cmds = [
        Cmd("openssl", "`openssl cms -sign`, key in a file",
            ["openssl", "cms", "-sign", "-signer",
             PKI + "/alice-rsa2048-sign.pem", "-inkey",
             PKI + "/alice-rsa2048-sign.key", "-in", msg]),
        Cmd("cardsign", "`cardsign smime sign` (card key, agent)",
            [B + "/cardsign", "smime", "sign", "--key", KEY, "-i", msg],
            goals=[Goal(1.0), Goal(1.0, of="gpgsm"),
                   Goal(0.6, of="libp11")]),
        Cmd("gpgsm", "`gpgsm --sign -b` (warm gpg-agent + gnupg-pkcs11-scd)",
            gpgsm("-u", "0x" + GPGSM_FPR, "-b", msg), GPGSM_SKIP),
        Cmd("libp11", "`openssl cms -sign -engine pkcs11` (libp11)",
            engine("-sign", "-in", msg), ENGINE_SKIP),
        Cmd("cmsutil", "`cmsutil -S -T` (NSS, SoftHSM added by modutil)",
            cmsutil_sign(NSS_DB, "-T", "-f", W + "/nss-pins", "-i", msg),
            NSS_SKIP),
        Cmd("cmsutil-agent", "`cmsutil -S -T` (NSS, cardagent-pkcs11.so "
            "added by modutil)",
            cmsutil_sign(NSS_AGENT_DB, "-T", "-p", "unused", "-i", msg),
            NSS_AGENT_SKIP),
    ]
    return Table("1 KiB message, RSA-2048 sign", "ms",
                 compare(cmds, SIGN_RUNS),
                 [("cardsign smime sign / cmsutil -S (SoftHSM)", "cardsign",
                   "cmsutil"),
                  ("cmsutil -S through cardagent-pkcs11.so / with SoftHSM "
                   "loaded", "cmsutil-agent", "cmsutil")])


def file_table(big):
    cmds = [
        Cmd("dgst", "`openssl dgst -sha256` (hashing floor)",
            ["openssl", "dgst", "-sha256", big]),
        Cmd("cardsign", "`cardsign sign` (detached CMS)",
            [B + "/cardsign", "sign", "--key", KEY, big, "-o",
             W + "/big.p7s"],
            goals=[Goal(1.1), Goal(rss_mib=16), Goal(1.0, of="gpgsm")]),
        Cmd("gpgsm", "`gpgsm --sign -b` (warm agent)",
            gpgsm("-u", "0x" + GPGSM_FPR, "-b", big), GPGSM_SKIP),
        Cmd("libp11", "`openssl cms -sign -binary` (libp11 engine, "
            "detached)", engine("-sign", "-binary", "-outform", "DER",
                                "-in", big), ENGINE_SKIP),
        Cmd("cmsutil", "`cmsutil -S -T` (NSS, SoftHSM)",
            cmsutil_sign(NSS_DB, "-T", "-f", W + "/nss-pins", "-i", big),
            NSS_SKIP),
    ]
    return Table("100 MiB file, detached signature", "ms",
                 compare(cmds, FILE_RUNS))


def decrypt_table(big):
    # The same 100 MiB body, RSA v1.5 key transport to the same key,
    # AES-256-CBC: as S/MIME (base64) for openssl and cardsign, as DER for
    # gpgsm and cmsutil, which read no S/MIME, and for cardsign again.
    # Every program writes the plaintext to stdout (/dev/null here).
    eml = W + "/big.eml"
    with open(big, "rb") as f, open(eml, "wb") as g:
        g.write(b"Content-Type: application/octet-stream\n\n")
        g.write(f.read())
    run([B + "/cardsign", "smime", "encrypt", "--no-self", "--to",
         PKI + "/alice-rsa2048-km.pem", "-i", eml, "-o", W + "/big.enc"])
    run(["openssl", "cms", "-encrypt", "-binary", "-aes256", "-outform",
         "DER", "-in", eml, "-out", W + "/big.der",
         PKI + "/alice-rsa2048-km.pem"])
    der = W + "/big.der"
    cmds = [
        Cmd("openssl", "`openssl cms -decrypt`, key in a file (S/MIME)",
            ["openssl", "cms", "-decrypt", "-recip",
             PKI + "/alice-rsa2048-km.pem", "-inkey",
             PKI + "/alice-rsa2048-km.key", "-in", W + "/big.enc"]),
        Cmd("cardsign", "`cardsign smime decrypt` (S/MIME, card key, agent)",
            [B + "/cardsign", "smime", "decrypt", "-i", W + "/big.enc"],
            goals=[Goal(1.0, of="gpgsm"), Goal(rss_mib=8)]),
        Cmd("cardsign-der", "`cardsign smime decrypt` (the same as DER)",
            [B + "/cardsign", "smime", "decrypt", "-i", der]),
        Cmd("gpgsm", "`gpgsm --decrypt` (DER, warm agent; it streams)",
            gpgsm("--decrypt", der), GPGSM_SKIP),
        Cmd("cmsutil", "`cmsutil -D` (DER, NSS, SoftHSM)",
            ["cmsutil", "-D", "-d", NSS_DB, "-f", W + "/nss-pins", "-i",
             der], NSS_SKIP),
    ]
    # The DER readers must give back the message exactly, or their times
    # mean nothing.
    with open(eml, "rb") as g:
        want = g.read()
    for c in cmds[2:]:
        if c.skip:
            continue
        with open(W + "/d3", "wb") as f:
            subprocess.run(c.argv, check=True, stdin=subprocess.DEVNULL,
                           stdout=f, stderr=subprocess.DEVNULL)
        with open(W + "/d3", "rb") as f:
            if f.read() != want:
                sys.exit("%s: wrong plaintext" % c.argv[0])
    return Table("100 MiB message, decrypt (RSA-2048 v1.5, AES-256-CBC)",
                 "ms", compare(cmds, DECRYPT_RUNS),
                 [("cardsign smime decrypt (DER) / gpgsm --decrypt",
                   "cardsign-der", "gpgsm"),
                  ("cardsign smime decrypt (DER) / cmsutil -D",
                   "cardsign-der", "cmsutil")])


def measure():
    """The smime block for report.py."""
    # libp11's engine finds the module here (no OpenSSL config needed).
    os.environ["PKCS11_MODULE_PATH"] = MOD
    tables = [sign_table()]
    big = os.path.join(W, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(100 * 1024 * 1024))
    tables += [file_table(big), decrypt_table(big)]
    counts = ("Runs per command: %d (1 KiB), %d (100 MiB file), %d "
              "(decrypt); each run a whole process, the commands of a table "
              "taking turns run by run; peak RSS from one more run of "
              "each, untimed, before the others" % (
                  SIGN_RUNS, FILE_RUNS, DECRYPT_RUNS))
    return [("smime", counts, tables)]
