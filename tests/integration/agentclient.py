"""A minimal client of the agent's protocol (docs/protocol.md), for tests
that need requests cardsign does not make: raw DECRYPT ciphertexts, a PIN
sent by the client, several operations on one connection."""
import socket
import struct

HELLO, STATUS, LIST_KEYS, SIGN, DECRYPT, DERIVE, LOGIN, LOCK = 1, 2, 3, 4, 5, 6, 7, 8
OK, ERROR, HELLO_REPLY, STATUS_REPLY, KEYS_REPLY, SIGNATURE, SECRET = (
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86)
ALG_RSA_PKCS, ALG_RSA_PSS, ALG_ECDSA, ALG_RSA_OAEP = 1, 2, 3, 4
HASH_SHA256 = 3
ERRORS = {1: "PROTOCOL", 4: "NO_KEY", 9: "CANCELLED", 13: "BAD_INPUT",
          14: "BUSY", 16: "DENIED"}


def _bytes(b):
    return struct.pack(">I", len(b)) + b


class Agent:
    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.next_id = 1
        t, _ = self.call(HELLO, struct.pack(">II", 1, 1) + _bytes(b"agentclient.py"))
        if t != HELLO_REPLY:
            raise RuntimeError("no HELLO_REPLY")

    def close(self):
        self.s.close()

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("agent closed the connection")
            buf += chunk
        return buf

    def call(self, mtype, fields=b""):
        """Sends one request; returns (reply type, reply fields)."""
        mid = self.next_id
        self.next_id += 1
        body = struct.pack(">BI", mtype, mid) + fields
        self.s.sendall(struct.pack(">I", len(body)) + body)
        (n,) = struct.unpack(">I", self._read(4))
        reply = self._read(n)
        rtype, rid = struct.unpack(">BI", reply[:5])
        if rid != mid:
            raise RuntimeError("reply id %d for request %d" % (rid, mid))
        return rtype, reply[5:]

    def op(self, mtype, key_id, data, alg, hash_=0, pin=b""):
        """SIGN, DECRYPT or DERIVE; returns ("ok", result bytes) or
        (error name, error text)."""
        fields = (_bytes(key_id.encode()) + struct.pack(">BBBI", alg, hash_, 0, 0)
                  + _bytes(b"") + _bytes(data) + _bytes(pin))
        return result(*self.call(mtype, fields))

    def login(self, token_id="", pin=b""):
        return result(*self.call(LOGIN, _bytes(token_id.encode()) + _bytes(pin)))

    def lock(self, token_id=""):
        return result(*self.call(LOCK, _bytes(token_id.encode())))


def result(rtype, fields):
    if rtype == ERROR:
        code, n = struct.unpack(">II", fields[:8])
        return ERRORS.get(code, str(code)), fields[8:8 + n].decode()
    if rtype in (SIGNATURE, SECRET):
        (n,) = struct.unpack(">I", fields[:4])
        return "ok", fields[4:4 + n]
    return "ok", b""
