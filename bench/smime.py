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
    row("`cardsign smime sign` (card key, agent)", ms, rss, base)
    env_ok = subprocess.run(["sh", "-c", "test -e /usr/lib/x86_64-linux-gnu/"
                             "engines-3/pkcs11.so"]).returncode == 0
    if env_ok:
        os.environ["PKCS11_MODULE_PATH"] = MOD
        ms, rss = timed(engine, max(5, RUNS // 3))
        row("`openssl cms -sign -engine pkcs11` (libp11, same token)", ms,
            rss, base)
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
    row("`cardsign sign` (detached CMS)", ms, rss, base)
    with open(big, "rb") as f, open(W + "/big.eml", "wb") as g:
        g.write(b"Content-Type: application/octet-stream\n\n")
        g.write(f.read(64 * 1024 * 1024))
    subprocess.run([B + "/cardsign", "smime", "encrypt", "--no-self", "--to",
                    PKI + "/alice-rsa2048-km.pem", "-i", W + "/big.eml", "-o",
                    W + "/big.enc"], check=True)
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
    row("`cardsign smime decrypt` (card key, agent)", ms, rss, base)


if __name__ == "__main__":
    sys.exit(main())
