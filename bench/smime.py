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


def rss_of(cmd):
    """The peak RSS (KiB) of one run of cmd."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    return int(r.stderr.strip().splitlines()[-1])


def compare(cmds, runs):
    """Median wall time in ms of each command and the peak RSS (KiB) of one
    run, the commands taking turns run by run: this machine's slow and fast
    phases then hit each alike, and the ratios between them hold."""
    times = [[] for _ in cmds]
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times[i].append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(t), rss_of(c)) for t, c in zip(times, cmds)]


def row(name, ms, rss, base):
    ratio = "%.2fx" % (ms / base) if base else "1.00x"
    print("| %s | %.1f ms | %s | %.1f MiB |" % (name, ms, ratio, rss / 1024))
    return ms


def gpgsm(*args):
    """A gpgsm command line for the private GNUPGHOME; output on stdout."""
    return ["gpgsm", "--batch"] + list(args)


def gpgsm_skipped():
    print("| gpgsm: not measured (%s) | - | - | - |" % GPGSM_SKIP)


def table(title, rows, runs):
    """Measures rows [(name, cmd)], the first the base of the ratios, and
    prints them; returns the medians by name."""
    print("| %s | median | ratio | peak RSS |" % title)
    print("|---|---|---|---|")
    res = compare([c for _, c in rows], runs)
    base = res[0][0]
    out = {}
    for (name, _), (ms, rss) in zip(rows, res):
        out[name] = row(name, ms, rss, base)
    print()
    return out


def main():
    # Every program writes its result to stdout (/dev/null): like for like,
    # as gpgsm has no output file of its own. (cardsign -o adds an fsync
    # before its rename, ~0.4 ms, which openssl -out does not do.)
    msg = os.path.join(W, "m.eml")
    with open(msg, "w") as f:
        f.write("From: alice@example.org\nTo: bob@example.org\n"
                "Subject: bench\n\n" + ("x" * 72 + "\n") * 14)
    key = "pkcs11:token=alice;object=rsa2048-sign"
    rows = [("`openssl cms -sign`, key in a file",
             ["openssl", "cms", "-sign", "-signer",
              PKI + "/alice-rsa2048-sign.pem", "-inkey",
              PKI + "/alice-rsa2048-sign.key", "-in", msg]),
            ("`cardsign smime sign` (card key, agent)",
             [B + "/cardsign", "smime", "sign", "--key", key, "-i", msg])]
    if GPGSM_FPR:
        rows.append(("`gpgsm --sign -b` (warm gpg-agent + gnupg-pkcs11-scd)",
                     gpgsm("-u", "0x" + GPGSM_FPR, "-b", msg)))
    if os.path.exists("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"):
        os.environ["PKCS11_MODULE_PATH"] = MOD
        rows.append(("`openssl cms -sign -engine pkcs11` (libp11, same token)",
                     ["openssl", "cms", "-sign", "-engine", "pkcs11",
                      "-keyform", "engine", "-signer",
                      PKI + "/alice-rsa2048-sign.pem", "-inkey",
                      "pkcs11:token=alice;object=rsa2048-sign;type=private;"
                      "pin-value=123456", "-in", msg]))
    res = table("1 KiB message, RSA-2048", rows, RUNS)
    card = res[rows[1][0]]
    if GPGSM_FPR:
        print("cardsign smime sign / gpgsm --sign -b: %.2fx" %
              (card / res[rows[2][0]]))
    else:
        gpgsm_skipped()
    if len(rows) > 3:
        print("cardsign smime sign / openssl -engine pkcs11: %.2fx" %
              (card / res[rows[-1][0]]))
    print()

    big = os.path.join(W, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(100 * 1024 * 1024))
    rows = [("`openssl dgst -sha256` (hashing floor)",
             ["openssl", "dgst", "-sha256", big]),
            ("`cardsign sign` (detached CMS)",
             [B + "/cardsign", "sign", "--key", key, big, "-o",
              W + "/big.p7s"])]
    if GPGSM_FPR:
        rows.append(("`gpgsm --sign -b` (warm agent)",
                     gpgsm("-u", "0x" + GPGSM_FPR, "-b", big)))
    res = table("100 MiB file", rows, 5)
    if GPGSM_FPR:
        print("cardsign sign / gpgsm --sign -b: %.2fx" %
              (res[rows[1][0]] / res[rows[2][0]]))
        print()

    # The same 100 MiB body, RSA v1.5 key transport to the same key,
    # AES-256-CBC: as S/MIME (base64) for openssl and cardsign, as DER for
    # gpgsm, which reads no S/MIME, and for cardsign again. Every program
    # writes the plaintext to stdout (/dev/null here).
    with open(big, "rb") as f, open(W + "/big.eml", "wb") as g:
        g.write(b"Content-Type: application/octet-stream\n\n")
        g.write(f.read())
    subprocess.run([B + "/cardsign", "smime", "encrypt", "--no-self", "--to",
                    PKI + "/alice-rsa2048-km.pem", "-i", W + "/big.eml", "-o",
                    W + "/big.enc"], check=True)
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes256",
                    "-outform", "DER", "-in", W + "/big.eml", "-out",
                    W + "/big.der", PKI + "/alice-rsa2048-km.pem"],
                   check=True)
    for cmd in ([B + "/cardsign", "smime", "decrypt", "-i", W + "/big.der"],
                gpgsm("--decrypt", W + "/big.der") if GPGSM_FPR else None):
        if cmd is None:
            continue
        with open(W + "/d3", "wb") as f:
            subprocess.run(cmd, check=True, stdout=f,
                           stderr=subprocess.DEVNULL)
        with open(W + "/d3", "rb") as f, open(W + "/big.eml", "rb") as g:
            if f.read() != g.read():
                sys.exit("%s: wrong plaintext" % cmd[0])
    rows = [("`openssl cms -decrypt`, key in a file (S/MIME)",
             ["openssl", "cms", "-decrypt", "-recip",
              PKI + "/alice-rsa2048-km.pem", "-inkey",
              PKI + "/alice-rsa2048-km.key", "-in", W + "/big.enc"]),
            ("`cardsign smime decrypt` (S/MIME, card key, agent)",
             [B + "/cardsign", "smime", "decrypt", "-i", W + "/big.enc"]),
            ("`cardsign smime decrypt` (DER)",
             [B + "/cardsign", "smime", "decrypt", "-i", W + "/big.der"])]
    if GPGSM_FPR:
        rows.append(("`gpgsm --decrypt` (DER, warm agent; it streams)",
                     gpgsm("--decrypt", W + "/big.der")))
    res = table("100 MiB message, decrypt", rows, 3)
    if GPGSM_FPR:
        g = res[rows[3][0]]
        print("cardsign smime decrypt / gpgsm --decrypt: %.2fx (S/MIME), "
              "%.2fx (DER)" % (res[rows[1][0]] / g, res[rows[2][0]] / g))
    else:
        gpgsm_skipped()


if __name__ == "__main__":
    sys.exit(main())
