#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/: valid frames for the
wire codec (encoded here from docs/protocol.md, independently of the C
encoder), a few config files, and S/MIME messages made with the openssl
command line and a throwaway key that is deleted afterwards.

Also scenarios for the token-host channel: a host's frames (an index of
tokens and keys, replies of every type, frames split across writes) with
the agent's calls and timers between them, in fuzz_hostchan.c's format.

Run once from anywhere; the output is committed. Re-running rewrites the
seeds (the S/MIME ones differ each time: new key, new signing time) and
leaves crash-* regression inputs alone. Name corpora (msg, config, smime,
hostchan) to rewrite only those."""

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


# fuzz_hostchan.c's input: a setup byte, then operations.
HC_TWO_HOSTS = 0x01
HC_SLOW_REAP = 0x10
HC_STALLED = 0x20
SIGN, DECRYPT, DERIVE, LOGIN, LOCK, REFRESH = range(6)
HOW_STEAL, HOW_CHAIN, HOW_PIN = 1, 2, 4


def hc_send(b):
    return u8(0) + struct.pack(">H", len(b)) + b


def hc_split(b, *cuts):
    """One frame (or several) written in pieces, cut at the given
    offsets: the agent reads each piece on its own."""
    out, last = b"", 0
    for c in list(cuts) + [len(b)]:
        out += hc_send(b[last:c])
        last = c
    return out


def hc_host(n):
    return u8(1) + u8(n)


def hc_call(kind, how=0, pick=0, dlen=1):
    return u8(2) + u8(kind) + u8(how) + u8(pick) + u8(dlen)


def hc_time(n=0):
    return u8(3) + u8(n)


def hc_close(n=0):
    return u8(4) + u8(n)


def hc_stall():
    return u8(5)


def hc_fail(bits):
    return u8(6) + u8(bits)


def hc_stop():
    return u8(7)


def hc_turn():
    return u8(8)


def hc_echo(n):
    """The current host writes again what SEND number n wrote."""
    return u8(9) + u8(n)


def hc_index(mid=0, ntok=2, nkey=3, tflags=0x5, pre=""):
    toks = [token(pre + "tok%d" % i, "card%d" % i, tflags)
            for i in range(ntok)]
    keys = [key(pre + "k%d" % i, pre + "tok%d" % (i % max(ntok, 1)),
                "key%d" % i,
                1 if i % 2 == 0 else 2, 2048 if i % 2 == 0 else 256,
                1 | 2 if i % 2 == 0 else 1 | 4,
                cert=b"\x30\x03\x02\x01\x00" if i == 0 else b"")
            for i in range(nkey)]
    return frame(0x40, mid, u32(ntok) + b"".join(toks) +
                 u32(nkey) + b"".join(keys))


def hostchan_seeds():
    index = hc_index()
    sig = lambda i: frame(0x85, i, blob(bytes(range(64))))
    sec = lambda i: frame(0x86, i, blob(bytes(32)))
    ok = lambda i: frame(0x80, i)
    err = lambda i, c=6: frame(0x81, i, u32(c) + blob("PIN incorrect"))
    s = {}
    # The index a host sends at start, then a signature for id 1.
    s["index_sign"] = (u8(0) + hc_send(index) + hc_call(SIGN) +
                       hc_send(sig(1)))
    # Replies of every type, to calls with ids 1..8 (the refresh is 6).
    s["every_reply"] = (u8(0) + hc_send(index) +
                        hc_call(SIGN, pick=0) + hc_send(sig(1)) +
                        hc_call(DECRYPT, pick=0, dlen=8) + hc_send(sec(2)) +
                        hc_call(DERIVE, pick=1) + hc_send(sec(3)) +
                        hc_call(LOGIN, HOW_PIN) + hc_send(ok(4)) +
                        hc_call(LOCK, pick=1) + hc_send(err(5, 12)) +
                        hc_call(REFRESH) + hc_send(hc_index(6, 1, 1)) +
                        hc_call(SIGN, HOW_STEAL) + hc_send(err(7)) +
                        hc_call(DERIVE, HOW_STEAL, 1) + hc_send(sec(8)))
    # The poll timer (500 ms after the index): the host pushes a new
    # index, then answers the poll.
    s["poll"] = (u8(0) + hc_send(index) + hc_time(0) +
                 hc_send(hc_index(0, 1, 1, 0x7) + ok(1)))
    # Frames cut inside the length, the header and the fields.
    s["split_index"] = u8(0) + hc_split(index, 2, 5, 40, 41, len(index) - 1)
    s["split_reply"] = (u8(0) + hc_send(index) + hc_call(SIGN) +
                        hc_split(sig(1), 1, 2, 3, 4, 5, 8, 9, 12))
    # Writes that end 1 to 5 bytes into the next frame: inside its length,
    # then inside its type and id.
    s["split_after"] = (u8(0) + hc_send(index + ok(50)[:1]) + hc_call(SIGN) +
                        hc_send(ok(50)[1:] + sig(1)[:2]) +
                        hc_send(sig(1)[2:] + ok(51)[:3]) +
                        hc_send(ok(51)[3:] + ok(52)[:4]) +
                        hc_send(ok(52)[4:] + index[:5]) +
                        hc_send(index[5:]))
    # Several frames in one write, one of them cut at the end.
    both = ok(99) + index + sig(1) + sec(2)
    s["coalesced"] = (u8(0) + hc_call(SIGN) + hc_send(index) +
                      hc_call(SIGN) + hc_call(DECRYPT) +
                      hc_split(both, len(both) - 7))
    # Login then operation: the callback calls again from inside.
    s["chain"] = (u8(0) + hc_send(index) + hc_call(LOGIN, HOW_CHAIN) +
                  hc_send(ok(1)) + hc_send(sig(2)))
    # A HOST_INDEX answering a signature, replies nobody asked for.
    s["odd_replies"] = (u8(0) + hc_send(index) + hc_call(SIGN) +
                        hc_send(ok(77) + frame(0x83, 0, u32(0)) +
                                hc_index(1, 1, 0)))
    # Two modules, each with its index, a call to a key of each.
    s["two_hosts"] = (u8(HC_TWO_HOSTS) + hc_host(0) + hc_send(index) +
                      hc_host(1) + hc_send(hc_index(0, 1, 2, pre="b")) +
                      hc_call(SIGN, pick=0) + hc_call(SIGN, pick=4) +
                      hc_host(0) + hc_send(sig(1)) +
                      hc_host(1) + hc_send(sig(1)))
    # A malformed frame: the host is dropped, the call fails, the host
    # is restarted at once (the first restart has no back-off) and
    # indexes again.
    s["bad_frame"] = (u8(0) + hc_send(index) + hc_call(SIGN) +
                      hc_send(u32(0)) + hc_send(index) +
                      hc_send(frame(0x40, 0, u32(1))))
    # A frame longer than the channel allows, announced in its length.
    s["too_long"] = (u8(0) + hc_send(index) +
                     hc_send(u32(0x100001) + u8(0x40)))
    # A call that times out; the host is killed and reaped slowly.
    s["timeout"] = (u8(HC_SLOW_REAP) + hc_send(index) + hc_call(SIGN) +
                    hc_time(1) + hc_time(0) + hc_time(0) + hc_send(index))
    # The host dies mid-frame, with a call in flight.
    s["eof"] = (u8(0) + hc_send(index) + hc_call(DECRYPT) +
                hc_send(sig(1)[:6]) + hc_close(1) + hc_time(0))
    # The host stops reading: a large request is written from the loop.
    s["stall"] = (u8(HC_STALLED) + hc_send(index) + hc_call(SIGN, dlen=200) +
                  hc_call(DECRYPT, dlen=240) + hc_turn() + hc_stall() +
                  hc_turn() + hc_send(sig(1) + sec(2)))
    # Spawning fails (fork, socketpair, watch), then a restart works.
    s["spawn_fail"] = (u8(0x08) + hc_time(0) + hc_fail(2) + hc_time(0) +
                       hc_fail(4) + hc_time(0) + hc_time(0) +
                       hc_send(index))
    # The agent shuts down with calls in flight.
    s["stop"] = (u8(0) + hc_send(index) + hc_call(SIGN) + hc_call(LOGIN) +
                 hc_stop())
    # Vetting (hosts.c's vet_index()): the second host claims a token and
    # a key of the first, lists a token and a key twice, keys of tokens
    # that are not its own, and says its tokens are down. It keeps only
    # btok0, btok1 and bk0; once the first host lets tok1 and k1 go, the
    # second's next index gets them.
    theirs = frame(0x40, 0, u32(4) +
                   token("tok1", "stolen", 0x81) +
                   token("btok0", "b0", 0x85) +
                   token("btok0", "b0 again", 0x01) +
                   token("btok1", "b1", 0x80) +
                   u32(6) +
                   key("k1", "btok0", "stolen", 1, 2048, 1) +
                   key("bk0", "btok0", "b", 2, 256, 1) +
                   key("bk0", "btok1", "b again", 2, 256, 1) +
                   key("bk1", "tok0", "of the first", 1, 2048, 1) +
                   key("bk2", "tok1", "of a stolen token", 1, 2048, 1) +
                   key("bk3", "none", "of no token", 1, 2048, 1))
    s["vet_collide"] = (u8(HC_TWO_HOSTS) + hc_host(0) + hc_send(index) +
                        hc_host(1) + hc_send(theirs) +
                        hc_call(SIGN, pick=1) + hc_call(LOGIN, pick=1) +
                        hc_call(SIGN, pick=4) + hc_call(LOGIN, pick=3) +
                        hc_host(0) + hc_send(sig(1) + err(2)) +
                        hc_host(1) + hc_send(sig(1) + ok(2)) +
                        hc_host(0) + hc_send(hc_index(0, 1, 1)) +
                        hc_host(1) + hc_send(theirs))
    # Both hosts send the same index: the second gets nothing. The first
    # goes down (a bad frame) and keeps its ids while it restarts; the
    # second's index still gets none of them, the restarted first's all;
    # then the second answers a refresh with an index of new ids.
    s["vet_same"] = (u8(HC_TWO_HOSTS) + hc_host(1) + hc_send(index) +
                     hc_host(0) + hc_echo(0) + hc_call(SIGN, pick=2) +
                     hc_host(1) + hc_send(u32(0)) +
                     hc_host(0) + hc_send(index) +
                     hc_host(1) + hc_send(index) +
                     hc_host(0) + hc_call(REFRESH) +
                     hc_send(hc_index(1, 2, 3, pre="r")))
    # Two hosts whose ids are each a byte away from the other's: all of
    # them kept, and one changed byte away from a collision of tokens or
    # of keys alone.
    near = frame(0x40, 0, u32(2) + token("tok8", "card8", 0x5) +
                 token("tok9", "card9", 0x5) + u32(2) +
                 key("k8", "tok8", "key8", 1, 2048, 3) +
                 key("k9", "tok9", "key9", 2, 256, 5))
    s["two_near"] = (u8(HC_TWO_HOSTS) + hc_host(0) + hc_send(index) +
                     hc_host(1) + hc_send(near) + hc_call(SIGN, pick=3) +
                     hc_host(1) + hc_send(sig(1)))
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
    want = set(sys.argv[1:]) or {"msg", "config", "smime", "hostchan"}
    unknown = want - {"msg", "config", "smime", "hostchan"}
    if unknown:
        sys.exit("make_seeds.py: no corpus " + ", ".join(sorted(unknown)))
    if "msg" in want:
        write("msg", msg_seeds())
    if "config" in want:
        write("config", config_seeds())
    if "hostchan" in want:
        write("hostchan", hostchan_seeds())
    if "smime" in want:
        if shutil.which("openssl") is None:
            sys.exit("make_seeds.py: no openssl command: "
                     "S/MIME seeds not made")
        write("smime", smime_seeds())


if __name__ == "__main__":
    main()
