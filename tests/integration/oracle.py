"""Padding-oracle probe (used by test_restricted.sh): sends an RSA key
PKCS#1 v1.5 ciphertexts whose padding breaks in different places, and
checks that the agent answers every one of them alike, while a well-formed
one decrypts.

usage: oracle.py SOCKET KEY-ID CERT.pem [probe]
With "probe", sends one random block and prints the answer.
"""
import os
import sys

from cryptography import x509

from agentclient import ALG_RSA_PKCS, DECRYPT, Agent

sock, key_id, cert = sys.argv[1:4]
pub = x509.load_pem_x509_certificate(open(cert, "rb").read()).public_key().public_numbers()
k = (pub.n.bit_length() + 7) // 8


def nonzero(n):
    out = b""
    while len(out) < n:
        out += bytes(b for b in os.urandom(n) if b != 0)
    return out[:n]


def encrypt_raw(block):
    """RSA without padding: the block is exactly what the token will see."""
    c = pow(int.from_bytes(block, "big"), pub.e, pub.n)
    return c.to_bytes(k, "big")


secret = os.urandom(32)
ps = nonzero(k - 3 - len(secret))
cases = {
    "well formed": b"\x00\x02" + ps + b"\x00" + secret,
    "first byte not zero": b"\x01\x02" + ps + b"\x00" + secret,
    "block type 1": b"\x00\x01" + ps + b"\x00" + secret,
    "no zero separator": b"\x00\x02" + nonzero(k - 2),
    "padding string too short": b"\x00\x02" + nonzero(4) + b"\x00" + os.urandom(k - 7),
    "random block": b"\x00" + os.urandom(k - 1),
}
a = Agent(sock)
if sys.argv[4:] == ["probe"]:
    ans = a.op(DECRYPT, key_id, encrypt_raw(cases["random block"]), ALG_RSA_PKCS)
    print("%s: %s" % (ans[0], ans[1] if isinstance(ans[1], str) else "(bytes)"))
    sys.exit(0)
answers = {}
for name, block in cases.items():
    answers[name] = a.op(DECRYPT, key_id, encrypt_raw(block), ALG_RSA_PKCS)
a.close()

failed = 0
good = answers.pop("well formed")
if good == ("ok", secret):
    print("ok - a well-formed ciphertext decrypts")
else:
    failed += 1
    print("FAIL - a well-formed ciphertext decrypts: %r" % (good,))
first = next(iter(answers.values()))
for name, ans in answers.items():
    same = ans == first and ans[0] != "ok"
    print("%s - %s: %s: %s" % ("ok" if same else "FAIL", name, ans[0],
                              ans[1] if isinstance(ans[1], str) else "(bytes)"))
    failed += not same
sys.exit(1 if failed else 0)
