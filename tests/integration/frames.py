"""Hostile and broken clients against a live agent (used by test_frames.sh).

Each case opens its own connection, misbehaves, and checks that the agent
answers with a protocol error and closes, or simply survives; a healthy
client is served in between. Prints one "ok"/"FAIL" line per case and the
summary line.
"""
import socket
import struct
import sys
import time

SOCK = sys.argv[1]
MSG_HELLO, MSG_STATUS, MSG_ERROR, MSG_HELLO_REPLY, MSG_STATUS_REPLY = 1, 2, 0x81, 0x82, 0x83
E_PROTOCOL, E_VERSION = 1, 2
FRAME_MAX = 1024 * 1024
passed = failed = 0


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(SOCK)
    return s


def frame(body):
    return struct.pack(">I", len(body)) + body


def sstr(b):
    return struct.pack(">I", len(b)) + b


def hello(vmin=1, vmax=1):
    return frame(struct.pack(">BIII", MSG_HELLO, 1, vmin, vmax) + sstr(b"frames.py"))


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def report(ok, name):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - " + name)


def healthy():
    s = conn()
    s.sendall(hello())
    r = read_frame(s)
    if r is None or r[0] != MSG_HELLO_REPLY:
        return False
    s.sendall(frame(struct.pack(">BI", MSG_STATUS, 2)))
    r = read_frame(s)
    s.close()
    return r is not None and r[0] == MSG_STATUS_REPLY


def expect_error(name, data, code, then_closed=True):
    s = conn()
    s.sendall(data)
    r = read_frame(s)
    if r is not None and r[0] == MSG_HELLO_REPLY:
        r = read_frame(s)
    ok = r is not None and r[0] == MSG_ERROR and struct.unpack(">I", r[5:9])[0] == code
    if ok and then_closed:
        ok = closed(s)
    s.close()
    report(ok, name)
    report(healthy(), "agent serves others after: " + name)


expect_error("oversized frame length", struct.pack(">I", 0x7FFFFFFF), E_PROTOCOL)
expect_error("frame length just over the cap", struct.pack(">I", FRAME_MAX + 1), E_PROTOCOL)
expect_error("zero-length frame", struct.pack(">I", 0), E_PROTOCOL)
expect_error("unknown message type", hello() + frame(struct.pack(">BI", 0x33, 7)), E_PROTOCOL)
expect_error("request before HELLO", frame(struct.pack(">BI", MSG_STATUS, 1)), E_PROTOCOL)
expect_error("reply type sent as a request", hello() + frame(struct.pack(">BI", 0x80, 7)), E_PROTOCOL)
expect_error("truncated field inside a frame",
             hello() + frame(struct.pack(">BI", 4, 3) + struct.pack(">I", 500) + b"abc"), E_PROTOCOL)
expect_error("trailing bytes after a message",
             hello() + frame(struct.pack(">BI", MSG_STATUS, 1) + b"junk"), E_PROTOCOL)
expect_error("string with a huge length",
             frame(struct.pack(">BIII", MSG_HELLO, 1, 1, 1) + struct.pack(">I", 0xFFFFFFF0)), E_PROTOCOL)
expect_error("no common version", hello(7, 9), E_VERSION, then_closed=False)

# A whole frame at the cap, full of garbage: refused, and not an allocation
# the agent keeps.
s = conn()
s.sendall(hello())
read_frame(s)
s.sendall(struct.pack(">I", FRAME_MAX) + b"\xee" * FRAME_MAX)
r = read_frame(s)
report(r is not None and r[0] == MSG_ERROR and closed(s), "garbage frame at the size cap")
s.close()

# Half-sent frames, left open: others are still served promptly.
slow = []
for i in range(20):
    s = conn()
    s.sendall(hello())
    read_frame(s)
    s.sendall(struct.pack(">I", 1000) + b"x" * 10)
    slow.append(s)
t0 = time.monotonic()
report(healthy(), "served while 20 clients hold half-sent frames")
report(time.monotonic() - t0 < 2, "and without waiting for them")

# Truncated frames: the client hangs up mid-frame.
for i in range(20):
    s = conn()
    s.sendall(struct.pack(">I", 4000) + b"y" * 100)
    s.close()
for s in slow:
    s.close()
report(healthy(), "served after 20 clients hung up mid-frame")

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
