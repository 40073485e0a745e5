"""Many, slow and abandoned clients against a live agent (test_load.sh,
test_faults.sh).

    loadgen.py SOCK many N [KEY_ID PUBKEY.pem]
        N connections open at once; all say HELLO, then all ask STATUS
        (every reply must be the same), then, with a key, all SIGN a
        digest of their own and every signature is verified. Prints one
        "ok"/"FAIL" line per phase; exits 1 on any failure.
    loadgen.py SOCK trickle N SECONDS
        N connections, each sending one byte a second for SECONDS: three
        in four a frame header announcing a frame at the size cap and
        its first bytes, the others a HELLO.
        Prints "ready" once all are connected and have sent a byte, and
        at the end how many the agent still held open.
    loadgen.py SOCK hog N SECONDS
        N connections opened and held for SECONDS without a word; prints
        "ready" once all are connected, and at the end how many the agent
        refused (an ERROR, then closed).
    loadgen.py SOCK hold N KEY_ID
        N connections each send a SIGN (KEY_ID: an EC key), print "sent",
        and wait to be killed: clients that vanish with requests in
        flight.

The frame helpers are repeated here rather than imported from frames.py,
which runs its cases when imported.
"""
import hashlib
import resource
import socket
import struct
import sys
import time

MSG_HELLO, MSG_STATUS, MSG_SIGN = 1, 2, 4
MSG_ERROR, MSG_HELLO_REPLY, MSG_STATUS_REPLY, MSG_SIGNATURE = 0x81, 0x82, 0x83, 0x85
ALG_RSA_PKCS1, ALG_ECDSA, HASH_SHA256 = 1, 3, 3
FRAME_MAX = 1024 * 1024
TIMEOUT = 60
failures = 0


def frame(body):
    return struct.pack(">I", len(body)) + body


def sstr(b):
    return struct.pack(">I", len(b)) + b


def hello(rid=1):
    return frame(struct.pack(">BIII", MSG_HELLO, rid, 1, 1) + sstr(b"loadgen.py"))


def status(rid=2):
    return frame(struct.pack(">BI", MSG_STATUS, rid))


def sign(key, alg, digest, rid=3):
    return frame(struct.pack(">BI", MSG_SIGN, rid) + sstr(key.encode()) +
                 struct.pack(">BBBI", alg, HASH_SHA256, 0, 0) + sstr(b"") +
                 sstr(digest) + sstr(b""))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    return recv_exact(s, struct.unpack(">I", hdr)[0])


def describe(r):
    if r is None:
        return "connection closed"
    if r[0] == MSG_ERROR and len(r) >= 13:
        (code,) = struct.unpack(">I", r[5:9])
        return "ERROR %d %r" % (code, r[13:])
    return "reply type 0x%02x" % r[0]


def report(ok, name, detail=""):
    global failures
    if ok:
        print("ok - " + name)
    else:
        failures += 1
        print("FAIL - %s%s" % (name, ": " + detail if detail else ""))
    sys.stdout.flush()


def more_fds(n):
    """Each connection is a descriptor here too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64 and (hard == resource.RLIM_INFINITY or hard > soft):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(path):
    """A full listen backlog fails a Unix socket's connect with EAGAIN at
    once, whatever the timeout: try again until the agent accepts."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def connect_all(path, n):
    more_fds(n)
    conns = []
    for _ in range(n):
        conns.append(connect(path))
    return conns


def phase(conns, name, request, want):
    """Sends request(i) on every connection, then reads every reply; all
    N requests are outstanding at once. Returns the replies."""
    replies, bad = [], []
    for i, s in enumerate(conns):
        s.sendall(request(i))
    for i, s in enumerate(conns):
        try:
            r = read_frame(s)
        except OSError as e:
            r, why = None, str(e)
        else:
            why = describe(r)
        if r is None or r[0] != want:
            bad.append("connection %d: %s" % (i, why))
        replies.append(r)
    report(not bad, "%s on %d connections at once" % (name, len(conns)),
           "%d bad, first: %s" % (len(bad), bad[0]) if bad else "")
    return replies


def verifier(pem):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    pub = serialization.load_pem_public_key(open(pem, "rb").read())
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return ALG_ECDSA, lambda sig, d: pub.verify(
            sig, d, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert isinstance(pub, rsa.RSAPublicKey)
    return ALG_RSA_PKCS1, lambda sig, d: pub.verify(
        sig, d, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def many(path, n, key=None, pem=None):
    t0 = time.monotonic()
    conns = connect_all(path, n)
    report(len(conns) == n, "%d connections open" % n)
    phase(conns, "HELLO", lambda i: hello(), MSG_HELLO_REPLY)
    st = phase(conns, "STATUS", lambda i: status(), MSG_STATUS_REPLY)
    same = [r for r in st if r is not None and r == st[0]]
    report(len(same) == n and struct.unpack(">I", st[0][5:9])[0] >= 1,
           "every STATUS_REPLY lists the same tokens",
           "%d of %d alike" % (len(same), n))
    if key is not None:
        alg, verify = verifier(pem)
        digests = [hashlib.sha256(b"load %d" % i).digest() for i in range(n)]
        sigs = phase(conns, "SIGN", lambda i: sign(key, alg, digests[i]),
                     MSG_SIGNATURE)
        bad = 0
        for i, r in enumerate(sigs):
            try:
                (slen,) = struct.unpack(">I", r[5:9])
                verify(r[9:9 + slen], digests[i])
            except Exception:
                bad += 1
        report(bad == 0, "all %d signatures verify" % n, "%d do not" % bad)
    # Still connected after all that: nothing was dropped behind our back.
    phase(conns, "STATUS again", lambda i: status(4), MSG_STATUS_REPLY)
    for s in conns:
        s.close()
    print("# %d connections in %.1f s" % (n, time.monotonic() - t0))


def trickle(path, n, seconds):
    conns = connect_all(path, n)
    # A header announcing a frame at the cap makes the agent size its
    # buffer for it (three in four do); a HELLO sent slowly is merely a
    # slow client.
    data = [struct.pack(">I", FRAME_MAX) + b"\x55" * seconds if i % 4 != 3
            else hello() for i in range(n)]
    open_ = [True] * n
    for t in range(seconds):
        for i, s in enumerate(conns):
            if not open_[i] or t >= len(data[i]):
                continue
            try:
                s.send(data[i][t:t + 1])
            except OSError:
                open_[i] = False
        if t == 0:
            print("ready")
            sys.stdout.flush()
        time.sleep(1)
    # The agent may have answered or dropped some; count those it holds.
    held = 0
    for i, s in enumerate(conns):
        s.setblocking(False)
        try:
            held += open_[i] and s.recv(1) != b""
        except BlockingIOError:
            held += open_[i]
        except OSError:
            pass
        s.close()
    print("# %d of %d trickling connections still open after %d s" %
          (held, n, seconds))


def hog(path, n, seconds):
    conns = connect_all(path, n)
    print("ready")
    sys.stdout.flush()
    time.sleep(seconds)
    refused = 0
    for s in conns:
        s.settimeout(0.1)
        try:
            r = read_frame(s)
        except OSError:
            r = None
        refused += r is not None and r[0] == MSG_ERROR and b"too many" in r
        s.close()
    print("# %d of %d connections refused" % (refused, n))


def hold(path, n, key):
    conns = connect_all(path, n)
    for s in conns:
        s.sendall(hello())
        read_frame(s)
    digest = hashlib.sha256(b"hold").digest()
    for s in conns:
        s.sendall(sign(key, ALG_ECDSA, digest))
    print("sent")
    sys.stdout.flush()
    time.sleep(TIMEOUT)


def main():
    path, cmd, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "many":
        many(path, n, *sys.argv[4:6])
    elif cmd == "trickle":
        trickle(path, n, int(sys.argv[4]))
    elif cmd == "hog":
        hog(path, n, int(sys.argv[4]))
    elif cmd == "hold":
        hold(path, n, sys.argv[4])
    else:
        sys.exit("unknown command " + cmd)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
