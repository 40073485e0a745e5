#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/: valid frames for the
wire codec (encoded here from docs/protocol.md, independently of the C
encoder), a few config files, and S/MIME messages made with the openssl
command line and a throwaway key that is deleted afterwards.

Run once from anywhere; the output is committed. Re-running rewrites the
seeds (the S/MIME ones differ each time: new key, new signing time) and
leaves crash-* regression inputs alone."""

import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


def blob(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def frame(mtype, mid, fields=b""):
    body = u8(mtype) + u32(mid) + fields
    return u32(len(body)) + body


def token(tid, label, flags):
    return (blob(tid) + blob(label) + blob("SoftHSM project") +
            blob("SoftHSM v2") + blob("1a2b3c4d") +
            blob("pkcs11:token=" + label) +
            blob("/usr/lib/softhsm/libsofthsm2.so") + u32(flags))


def key(kid, tid, label, ktype, bits, ops, cert=b"", spki=b"\x30\x00"):
    return (blob(kid) + blob(tid) + blob(label) +
            blob("pkcs11:token=t;object=" + label + ";type=private") +
            u8(ktype) + u32(bits) + u32(ops) + u8(0) + blob(b"\x01\x02") +
            blob(cert) + blob(spki))


def msg_seeds():
    sha256 = bytes(range(32))
    s = {}
    s["hello"] = frame(0x01, 1, u32(1) + u32(1) + blob("cardsign 0.1.0"))
    s["hello_reply"] = frame(0x82, 1, u32(1) + blob("cardagent 0.1.0"))
    s["status"] = frame(0x02, 2)
    s["list_keys"] = frame(0x03, 3)
    # SIGN: key, alg, hash, mgf, salt, label, data, pin
    s["sign_pkcs1"] = frame(0x04, 4, blob("k1") + u8(1) + u8(3) + u8(0) +
                            u32(0) + blob(b"") + blob(sha256) + blob(b""))
    s["sign_pss_pin"] = frame(0x04, 5, blob("k1") + u8(2) + u8(3) + u8(3) +
                              u32(32) + blob(b"") + blob(sha256) +
                              blob("123456"))
    s["decrypt_oaep"] = frame(0x05, 6, blob("k1") + u8(4) + u8(3) + u8(3) +
                              u32(0) + blob("label") + blob(bytes(256)) +
                              blob(b""))
    s["login"] = frame(0x07, 7, blob("tok1") + blob("123456"))
    s["lock_all"] = frame(0x08, 8, blob(b""))
    s["error"] = frame(0x81, 9, u32(6) + blob("PIN incorrect"))
    s["ok"] = frame(0x80, 10)
    s["status_reply"] = frame(0x83, 2, u32(2) + token("tok1", "alice", 3) +
                              token("tok2", "bob", 0x24))
    s["keys_reply"] = frame(0x84, 3, u32(2) +
                            key("k1", "tok1", "sig", 1, 2048, 1) +
                            key("k2", "tok1", "enc", 2, 256, 4,
                                cert=b"\x30\x03\x02\x01\x00"))
    s["host_index"] = frame(0x40, 0, u32(1) + token("tok1", "alice", 1) +
                            u32(1) + key("k1", "tok1", "sig", 1, 2048, 3))
    s["signature"] = frame(0x85, 4, blob(bytes(range(64))))
    s["secret"] = frame(0x86, 6, blob(bytes(32)))
    # A stream of frames, as a reader's buffer holds them.
    s["stream"] = s["hello"] + s["status"] + s["list_keys"]
    return s


def config_seeds():
    return {
        "full.conf": (
            "# cardagent.conf\n"
            "module /usr/lib/softhsm/libsofthsm2.so\n"
            "module /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so\n"
            "socket /run/user/1000/cardagent/socket\n"
            "pinentry /usr/bin/pinentry-curses\n"
            "token-timeout 30\n"
            "pinentry-timeout 120\n"
            "pin-cache ttl 300\n"
            "idle-lock 15\n"
            "confirm sign\n"
            "confirm all alice\n"),
        "spaces.conf": (
            "\t module\t/opt/p11/lib.so   # trailing comment\n"
            "\n   \n#only a comment\n"
            "token-timeout\t86400\n"),
        "bad_keyword.conf": "modules /x.so\n",
        "bad_seconds.conf": "token-timeout 0\n",
        "relative_module.conf": "module lib.so\n",
        "no_value.conf": "socket\n",
        "no_newline.conf": "pinentry /usr/bin/pinentry",
    }


def run(args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def smime_seeds():
    out = {}
    with tempfile.TemporaryDirectory() as d:
        run(["openssl", "req", "-x509", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "key.pem", "-out", "cert.pem", "-days", "1",
             "-subj", "/CN=fuzz seed/emailAddress=fuzz@example.org"], d)
        with open(os.path.join(d, "msg.txt"), "wb") as f:
            f.write(b"Content-Type: text/plain\r\n\r\nHello, fuzzer.\r\n")
        common = ["openssl", "cms", "-in", "msg.txt"]
        signer = ["-signer", "cert.pem", "-inkey", "key.pem"]
        run(common + ["-sign"] + signer + ["-out", "detached.eml"], d)
        run(common + ["-sign", "-nodetach"] + signer +
            ["-out", "opaque.eml"], d)
        run(common + ["-sign", "-nodetach", "-outform", "DER"] + signer +
            ["-out", "signed.der"], d)
        run(common + ["-sign", "-outform", "PEM"] + signer +
            ["-out", "detached.pem"], d)
        run(common + ["-encrypt", "-aes-128-cbc", "-out", "enveloped.eml",
                      "cert.pem"], d)
        run(common + ["-encrypt", "-aes-256-gcm", "-outform", "DER",
                      "-out", "authenveloped.der", "cert.pem"], d)
        # -stream: indefinite lengths and chunked content, as streaming
        # senders (OpenSSL, gpgsm, NSS) write them.
        run(common + ["-encrypt", "-aes-128-cbc", "-stream", "-outform",
                      "DER", "-out", "enveloped-ber.der", "cert.pem"], d)
        run(common + ["-encrypt", "-aes-256-gcm", "-stream", "-outform",
                      "PEM", "-out", "authenveloped-ber.pem", "cert.pem"], d)
        run(common + ["-sign", "-nodetach", "-stream", "-outform", "DER"] +
            signer + ["-out", "signed-ber.der"], d)
        for name in ("detached.eml", "opaque.eml", "signed.der",
                     "detached.pem", "enveloped.eml", "authenveloped.der",
                     "enveloped-ber.der", "authenveloped-ber.pem",
                     "signed-ber.der"):
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
    # An opaque message as base64 without a header (cs_read_cms's third
    # reader), and a header-only message with folded fields.
    b64 = out["opaque.eml"].split(b"\n\n", 1)[-1]
    out["bare_base64.p7m"] = b64
    out["folded_header.eml"] = (
        b"From: a@example.org\r\nSubject: a folded\r\n  subject\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/signed;\r\n"
        b"\tprotocol=\"application/pkcs7-signature\"; boundary=x\r\n")
    return out


def write(sub, seeds):
    d = os.path.join(CORPUS, sub)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    write("msg", msg_seeds())
    write("config", config_seeds())
    if shutil.which("openssl") is None:
        sys.exit("make_seeds.py: no openssl command: S/MIME seeds not made")
    write("smime", smime_seeds())


if __name__ == "__main__":
    main()
