#!/usr/bin/env python3
"""Whole-process S/MIME and file-signing benchmarks, against peers in the
same run (issue 3): prints a Markdown table of medians, ratios and peak RSS.

Run through bench/smime.sh, which builds, makes the SoftHSM fixture and
starts the agent; this script gets the paths in its environment.
"""
import os
import statistics
import subprocess
import sys
import time

B = os.environ["BIN"]
PKI = os.environ["PKI"]
W = os.environ["WORK"]
MOD = os.environ["FIXTURE_MODULE"]
RUNS = int(os.environ.get("RUNS", "30"))
# gpgsm through a warm gpg-agent + gnupg-pkcs11-scd, set up by smime.sh:
# GPGSM_FPR is the SHA-1 fingerprint of alice's rsa2048-sign certificate,
# GPGSM_SKIP the reason when it could not be set up.
GPGSM_FPR = os.environ.get("GPGSM_FPR", "")
GPGSM_SKIP = os.environ.get("GPGSM_SKIP", "") or "not set up"


def timed(cmd, runs):
    """Median wall time in ms over runs, and the peak RSS (KiB) of one run."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        out.append((time.perf_counter() - t0) * 1000)
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    return statistics.median(out), int(r.stderr.strip().splitlines()[-1])


def row(name, ms, rss, base):
    ratio = "%.2fx" % (ms / base) if base else "1.00x"
    print("| %s | %.1f ms | %s | %.1f MiB |" % (name, ms, ratio, rss / 1024))
    return ms


def gpgsm(*args):
    """A gpgsm command line for the private GNUPGHOME; output on stdout."""
    return ["gpgsm", "--batch"] + list(args)


def gpgsm_skipped():
    print("| gpgsm: not measured (%s) | - | - | - |" % GPGSM_SKIP)


def main():
    msg = os.path.join(W, "m.eml")
    with open(msg, "w") as f:
        f.write("From: alice@example.org\nTo: bob@example.org\n"
                "Subject: bench\n\n" + ("x" * 72 + "\n") * 14)
    key = "pkcs11:token=alice;object=rsa2048-sign"
    engine = ["openssl", "cms", "-sign", "-engine", "pkcs11", "-keyform",
              "engine", "-signer", PKI + "/alice-rsa2048-sign.pem", "-inkey",
              "pkcs11:token=alice;object=rsa2048-sign;type=private;"
              "pin-value=123456", "-in", msg, "-out", W + "/e.eml"]
    print("| 1 KiB message, RSA-2048 | median | ratio | peak RSS |")
    print("|---|---|---|---|")
    base, rss = timed(["openssl", "cms", "-sign", "-signer",
                       PKI + "/alice-rsa2048-sign.pem", "-inkey",
                       PKI + "/alice-rsa2048-sign.key", "-in", msg, "-out",
                       W + "/f.eml"], RUNS)
    row("`openssl cms -sign`, key in a file", base, rss, base)
    ms, rss = timed([B + "/cardsign", "smime", "sign", "--key", key, "-i",
                     msg, "-o", W + "/c.eml"], RUNS)
    card = row("`cardsign smime sign` (card key, agent)", ms, rss, base)
    gms = None
    if GPGSM_FPR:
        ms, rss = timed(gpgsm("-u", "0x" + GPGSM_FPR, "-b", msg), RUNS)
        gms = row("`gpgsm --sign -b` (warm gpg-agent + gnupg-pkcs11-scd)",
                  ms, rss, base)
    else:
        gpgsm_skipped()
    env_ok = subprocess.run(["sh", "-c", "test -e /usr/lib/x86_64-linux-gnu/"
                             "engines-3/pkcs11.so"]).returncode == 0
    if env_ok:
        os.environ["PKCS11_MODULE_PATH"] = MOD
        ms, rss = timed(engine, max(5, RUNS // 3))
        row("`openssl cms -sign -engine pkcs11` (libp11, same token)", ms,
            rss, base)
    if gms:
        print()
        print("cardsign smime sign / gpgsm --sign -b: %.2fx" % (card / gms))
    print()
    big = os.path.join(W, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(100 * 1024 * 1024))
    print("| 100 MiB file | median | ratio | peak RSS |")
    print("|---|---|---|---|")
    base, rss = timed(["openssl", "dgst", "-sha256", big], 5)
    row("`openssl dgst -sha256` (hashing floor)", base, rss, base)
    ms, rss = timed([B + "/cardsign", "sign", "--key", key, big, "-o",
                     W + "/big.p7s"], 5)
    card = row("`cardsign sign` (detached CMS)", ms, rss, base)
    if GPGSM_FPR:
        ms, rss = timed(gpgsm("-u", "0x" + GPGSM_FPR, "-b", big), 5)
        gms = row("`gpgsm --sign -b` (warm agent)", ms, rss, base)
        print()
        print("cardsign sign / gpgsm --sign -b: %.2fx" % (card / gms))
    else:
        gpgsm_skipped()
    with open(big, "rb") as f, open(W + "/big.eml", "wb") as g:
        g.write(b"Content-Type: application/octet-stream\n\n")
        g.write(f.read(64 * 1024 * 1024))
    subprocess.run([B + "/cardsign", "smime", "encrypt", "--no-self", "--to",
                    PKI + "/alice-rsa2048-km.pem", "-i", W + "/big.eml", "-o",
                    W + "/big.enc"], check=True)
    if GPGSM_FPR:
        # gpgsm reads DER (or PEM), not S/MIME: the same 64 MiB body,
        # RSA v1.5 key transport to the same key, AES-256-CBC.
        subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes256",
                        "-outform", "DER", "-in", W + "/big.eml", "-out",
                        W + "/big.der", PKI + "/alice-rsa2048-km.pem"],
                       check=True)
        with open(W + "/d3", "wb") as f:
            subprocess.run(gpgsm("--decrypt", W + "/big.der"), check=True,
                           stdout=f, stderr=subprocess.DEVNULL)
        with open(W + "/d3", "rb") as f, open(W + "/big.eml", "rb") as g:
            if f.read() != g.read():
                sys.exit("gpgsm --decrypt: wrong plaintext")
    print()
    print("| 64 MiB message, decrypt | median | ratio | peak RSS |")
    print("|---|---|---|---|")
    base, rss = timed(["openssl", "cms", "-decrypt", "-recip",
                       PKI + "/alice-rsa2048-km.pem", "-inkey",
                       PKI + "/alice-rsa2048-km.key", "-in", W + "/big.enc",
                       "-out", W + "/d1"], 3)
    row("`openssl cms -decrypt`, key in a file", base, rss, base)
    ms, rss = timed([B + "/cardsign", "smime", "decrypt", "-i",
                     W + "/big.enc", "-o", W + "/d2"], 3)
    card = row("`cardsign smime decrypt` (card key, agent)", ms, rss, base)
    if GPGSM_FPR:
        ms, rss = timed(gpgsm("--decrypt", W + "/big.der"), 3)
        gms = row("`gpgsm --decrypt` (DER, warm agent)", ms, rss, base)
        print()
        print("cardsign smime decrypt / gpgsm --decrypt: %.2fx" % (card / gms))
    else:
        gpgsm_skipped()


if __name__ == "__main__":
    sys.exit(main())
