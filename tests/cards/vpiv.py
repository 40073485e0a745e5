#!/usr/bin/python3
"""vpiv.py: a virtual PIV card (NIST SP 800-73-4 subset) for vsmartcard's vpcd.

The stack it serves:

    PKCS#11 consumer -> opensc-pkcs11.so -> libpcsclite -> pcscd
        -> vpcd reader driver (libifdvpcd.so) -> TCP -> this process

vpcd wire protocol: every message, both ways, is a 2-byte big-endian length
followed by that many bytes. A 1-byte message from vpcd is a control code:
0 power off, 1 power on, 2 reset (no answer to any of these), 4 get ATR
(answered with the ATR; vpcd polls it to see whether the card is present).
A longer message is a C-APDU, answered with one R-APDU. vpcd listens on
port 35963 for its first reader and 35964 for its second; the card
connects. vpcd sends the length and the payload in two writes, so the card
sets TCP_QUICKACK before every read (else each APDU waits ~40 ms for a
delayed ACK).

The card: ATR 3B 8B 01 80 F9 <PIV AID> TCK, T=1; its historical bytes carry
the PIV AID, so that OpenSC's PIV driver takes it for a PIV card with no
quirks. Commands:

    SELECT         00 A4 04 xx  the PIV AID, or a prefix of it of 5+ bytes
    GET DATA       00 CB 3F FF  5C tag: Discovery 7E, CCC, CHUID, Key
                                History, Printed Information (after
                                VERIFY) and the certificates of the keys
    VERIFY         00 20 00 80  PIN padded with FF to 8 bytes; without
                                data: 9000 if verified, else 63Cx
                   00 20 FF 80  forget the verification (logout)
    GENERAL AUTH.  00 87 AA KK  7C{82 00, 81 input}: RSA private operation
                                or ECDSA of a hash; 7C{82 00, 85 point}:
                                ECDH, the shared secret; 7C{81 00} on 9B:
                                8 random bytes
    GET RESPONSE   00 C0 00 00  the rest of a reply longer than Le (61xx)

Any command may be chained (CLA 10). The PIN has 3 tries (63Cx after a
wrong PIN, x tries left; 6983 once blocked) and no PUK; the right PIN resets
the counter, which is kept in the state directory like a card's EEPROM.

Keys (AA, the algorithm reference: 07 RSA-2048, 11 ECC P-256):

    slot  OpenSC id  key       PIN     certificate keyUsage
    9A    01         RSA-2048  once    digitalSignature
    9C    02         RSA-2048  always  digitalSignature, nonRepudiation
    9D    03         RSA-2048  once    keyEncipherment
    9E    04         P-256     never   digitalSignature
    82    05         RSA-2048  once    keyEncipherment  (retired 1)
    83    06         P-256     once    keyAgreement     (retired 2)

"once": after a VERIFY, until power off, reset, removal or logout.
"always" (9C): only the command right after a successful VERIFY may use the
key; one use, or any other command in between, and it needs VERIFY again.
The RSA keys do the raw private operation, for signing and decrypting alike
(the host pads, as with a real PIV card). All certificates carry the
holder's mail address, NAME@example.org.

State: --state DIR holds the keys, certificates (DIR/9a.pem ... DIR/83.pem)
and identity (CHUID GUID and FASC-N) of the card, made on first start, so
that a restarted or re-inserted card is the same card. The certificates are
issued by a test CA kept in --ca DIR, made on first use and shared by all
cards pointed at it: DIR/ca.pem is what a verifier trusts.

Removal and insertion, the process and card staying the same:
    kill -USR1 PID   pull the card (close the connection to vpcd)
    kill -USR2 PID   insert it again (reconnect)
    kill -TERM PID   exit

Usage: vpiv.py --state DIR [--ca DIR] [--name alice] [--pin 123456]
               [--port 35963|35964] [--host 127.0.0.1] [--init] [--verbose]
"""

import argparse
import collections
import datetime
import fcntl
import functools
import json
import operator
import os
import secrets
import select
import signal
import socket
import struct
import sys
import traceback

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

h = bytes.fromhex


def xor(data):
    return functools.reduce(operator.xor, data)


PIV_AID = h("A000000308000010000100")
# T0: TD1 follows, 11 historical bytes; TD1: T=1; historical bytes: compact
# TLV, tag F (application identifier), 9 bytes.
ATR_BODY = h("8B01" "80F9") + PIV_AID[:9]
ATR = b"\x3b" + ATR_BODY + bytes([xor(ATR_BODY)])
RSA2048, P256 = 0x07, 0x11
MAX_TRIES = 3

# obj: the tag of the slot's certificate object; pin: once, always or never;
# usage: the certificate's keyUsage; purpose: its OU.
Slot = collections.namedtuple("Slot", "ref alg obj pin usage eku purpose")
EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
SLOTS = {s.ref: s for s in (
    Slot(0x9A, RSA2048, h("5FC105"), "once", {"digital_signature"}, CLIENT,
         "PIV Authentication"),
    Slot(0x9C, RSA2048, h("5FC10A"), "always",
         {"digital_signature", "content_commitment"}, EMAIL,
         "Digital Signature"),
    Slot(0x9D, RSA2048, h("5FC10B"), "once", {"key_encipherment"}, EMAIL,
         "Key Management"),
    Slot(0x9E, P256, h("5FC101"), "never", {"digital_signature"}, CLIENT,
         "Card Authentication"),
    Slot(0x82, RSA2048, h("5FC10D"), "once", {"key_encipherment"}, EMAIL,
         "Retired Key Management 1"),
    Slot(0x83, P256, h("5FC10E"), "once", {"key_agreement"}, EMAIL,
         "Retired Key Management 2"),
)}
RETIRED_ON_CARD = 2  # 82 and 83, as the Key History object says


class SW(Exception):
    """Ends a command with a status word: raise SW(0x6982)."""

    def __init__(self, sw):
        super().__init__("%04X" % sw)
        self.sw = sw


def log(msg):
    print("vpiv[%d]: %s" % (os.getpid(), msg), file=sys.stderr, flush=True)


# --- BER-TLV ----------------------------------------------------------------

def tlv(tag, value=b""):
    """tag (bytes) + BER length + value."""
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return tag + length + value


def parse_tlv(data):
    """{tag: value} of a flat BER-TLV list with 1- or 2-byte tags."""
    out, i = {}, 0
    try:
        while i < len(data):
            tag = data[i]
            i += 1
            if tag & 0x1F == 0x1F:
                tag = tag << 8 | data[i]
                i += 1
            n = data[i]
            i += 1
            if n & 0x80:
                k = n & 0x7F
                n = int.from_bytes(data[i:i + k], "big")
                i += k
            if i + n > len(data):
                raise SW(0x6A80)
            out[tag] = data[i:i + n]
            i += n
    except IndexError:
        raise SW(0x6A80) from None
    return out


# --- identity, keys and certificates ----------------------------------------

def fascn(agency, system, credential, person):
    """A FASC-N (TIG SCEPACS): 40 characters of 4 data bits, least
    significant first, and an odd parity bit; 25 bytes."""
    def digits(value, width):
        return [int(c) for c in "%0*d" % (width, value)]
    SS, FS, ES = 0xB, 0xD, 0xF
    chars = ([SS] + digits(agency, 4) + [FS] + digits(system, 4) + [FS]
             + digits(credential, 6) + [FS, 0, FS, 1, FS]  # series, issue
             + digits(person, 10)
             + [1] + digits(agency, 4) + [1, ES])  # organisation, employee
    chars.append(xor(chars))  # LRC
    bits = "".join(format(c, "04b")[::-1] + str(1 - bin(c).count("1") % 2)
                   for c in chars)
    return int(bits, 2).to_bytes(25, "big")


def key_usage(names):
    flags = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign",
             "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{f: f in names for f in flags})


def new_key(alg):
    if alg == RSA2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def write_file(path, data, mode=0o600):
    tmp = path + ".tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with open(os.open(tmp, flags, mode), "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def name(*rdns):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in rdns])


def make_cert(subject, pub, issuer, issuer_key, days, extensions):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub),
                        False))
    for ext, critical in extensions:
        b = b.add_extension(ext, critical)
    return b.sign(issuer_key, hashes.SHA256())


def ca_load_or_create(ca_dir):
    """The test CA, DIR/ca.key and DIR/ca.pem, made once under a lock."""
    os.makedirs(ca_dir, exist_ok=True)
    key_path = os.path.join(ca_dir, "ca.key")
    cert_path = os.path.join(ca_dir, "ca.pem")
    with open(os.path.join(ca_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(cert_path):
            key = new_key(RSA2048)
            subject = name((NameOID.ORGANIZATION_NAME, "cardagent test"),
                           (NameOID.COMMON_NAME, "cardagent test PIV CA"))
            cert = make_cert(subject, key.public_key(), subject, key, 7300, [
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (key_usage({"key_cert_sign", "crl_sign"}), True)])
            write_file(key_path, key_pem(key))
            write_file(cert_path, cert_pem(cert), 0o644)
        return load_key(key_path), load_cert(cert_path)


def card_create(state, ca_dir, holder, pin):
    """Writes the keys, certificates and identity of a new card to state."""
    ca_key, ca_cert = ca_load_or_create(ca_dir)
    email = "%s@example.org" % holder
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        ca_cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value)
    for slot in SLOTS.values():
        key = new_key(slot.alg)
        subject = name((NameOID.ORGANIZATION_NAME, "cardagent test"),
                       (NameOID.ORGANIZATIONAL_UNIT_NAME, slot.purpose),
                       (NameOID.COMMON_NAME, holder))
        cert = make_cert(subject, key.public_key(), ca_cert.subject, ca_key,
                         3650, [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(slot.usage), True),
            (x509.ExtendedKeyUsage([slot.eku]), False),
            (x509.SubjectAlternativeName([x509.RFC822Name(email)]), False),
            (aki, False)])
        base = os.path.join(state, "%02x" % slot.ref)
        write_file(base + ".key", key_pem(key))
        write_file(base + ".pem", cert_pem(cert), 0o644)
    ident = {"holder": holder, "email": email, "pin": pin, "tries": MAX_TRIES,
             "guid": secrets.token_hex(16),
             "credential": secrets.randbelow(10 ** 6),
             "person": secrets.randbelow(10 ** 10)}
    write_file(os.path.join(state, "card.json"), json.dumps(ident).encode())


# --- the card ---------------------------------------------------------------

class Card:
    # Discovery object (7E, the only one not wrapped in 53): the PIV AID
    # and the PIN usage policy: the PIV application PIN only.
    DISCOVERY = tlv(b"\x7e", tlv(b"\x4f", PIV_AID) + tlv(h("5F2F"), h("4000")))
    # Application property template, the answer to SELECT.
    APT = tlv(b"\x61", tlv(b"\x4f", PIV_AID[5:])
              + tlv(b"\x79", tlv(b"\x4f", PIV_AID[:5]))
              + tlv(b"\x50", b"cardagent vPIV")
              + tlv(b"\xac", tlv(b"\x80", bytes([RSA2048]))
                    + tlv(b"\x80", bytes([P256])) + tlv(b"\x06", b"\x00")))
    PRINTED = h("5FC109")  # readable after VERIFY only

    def __init__(self, state):
        self.state = state
        with open(os.path.join(state, "card.json")) as f:
            self.ident = json.load(f)
        self.keys, self.objects = {}, self.data_objects()
        for ref, slot in SLOTS.items():
            base = os.path.join(state, "%02x" % ref)
            self.keys[ref] = load_key(base + ".key")
            der = load_cert(base + ".pem").public_bytes(
                serialization.Encoding.DER)
            # CertInfo 00: not compressed; FE: error detection code.
            self.objects[slot.obj] = (tlv(b"\x70", der) + tlv(b"\x71", b"\x00")
                                      + tlv(b"\xfe"))
        self.power_on()

    def data_objects(self):
        guid = h(self.ident["guid"])
        fasc_n = fascn(9999, 9999, self.ident["credential"],
                       self.ident["person"])
        chuid = (tlv(b"\x30", fasc_n) + tlv(b"\x34", guid)
                 + tlv(b"\x35", b"20351231")  # expiry
                 + tlv(b"\x3e") + tlv(b"\xfe"))  # no signature, no EDC
        # Card identifier: GSC-RID, manufacturer, card type (Java), card id.
        ccc = (tlv(b"\xf0", h("A000000116FF02") + guid[:14])
               + tlv(b"\xf1", b"\x21") + tlv(b"\xf2", b"\x21")
               + tlv(b"\xf3") + tlv(b"\xf4", b"\x00") + tlv(b"\xf5", b"\x10")
               + b"".join(tlv(bytes([t])) for t in h("F6F7FAFBFCFDFE")))
        history = (tlv(b"\xc1", bytes([RETIRED_ON_CARD]))  # on-card certs
                   + tlv(b"\xc2", b"\x00")  # off-card certs
                   + tlv(b"\xfe"))
        printed = (tlv(b"\x01", self.ident["holder"].encode()[:32])
                   + tlv(b"\x02", b"cardagent test")
                   + tlv(b"\x04", b"2035DEC31")
                   + tlv(b"\x05", guid.hex()[:10].encode())
                   + tlv(b"\x06", b"cardagent") + tlv(b"\xfe"))
        return {h("5FC107"): ccc, h("5FC102"): chuid, h("5FC10C"): history,
                self.PRINTED: printed}

    def power_on(self):
        """Power on, reset, removal: a new card session."""
        self.verified = False
        self.just_verified = False  # the last command was a good VERIFY
        self.fresh = False  # the current command follows a good VERIFY
        self.chain = None  # (ins, p1, p2, data so far)
        self.pending = b""  # reply data left for GET RESPONSE

    def save_tries(self, tries):
        self.ident["tries"] = tries
        write_file(os.path.join(self.state, "card.json"),
                   json.dumps(self.ident).encode())

    def process(self, apdu):
        """One C-APDU in, one R-APDU out."""
        try:
            cla, ins, p1, p2, data, le = parse_apdu(apdu)
            if cla & ~0x10:
                raise SW(0x6E00)
            if ins == 0xC0:
                return self.get_response(le)
            self.pending = b""
            if self.chain and self.chain[:3] == (ins, p1, p2):
                data = self.chain[3] + data
            self.chain = None
            if cla & 0x10:
                self.chain = (ins, p1, p2, data)
                return b"\x90\x00"
            self.fresh, self.just_verified = self.just_verified, False
            handler = {0xA4: self.select, 0xCB: self.get_data,
                       0x20: self.verify,
                       0x87: self.general_authenticate}.get(ins)
            if handler is None:
                raise SW(0x6D00)
            return self.reply(handler(p1, p2, data), le)
        except SW as e:
            return e.sw.to_bytes(2, "big")
        except Exception:  # a bug here: say so, and stay a card
            traceback.print_exc()
            return b"\x6f\x00"

    def reply(self, data, le):
        """data + 9000, or its first Le bytes + 61xx (xx: bytes left)."""
        n = le or 0
        if len(data) <= n:
            return data + b"\x90\x00"
        self.pending = data[n:]
        return data[:n] + bytes([0x61, min(len(self.pending), 256) & 0xFF])

    def get_response(self, le):
        if not self.pending:
            raise SW(0x6985)
        data, self.pending = self.pending, b""
        return self.reply(data, le if le is not None else 256)

    def select(self, p1, p2, data):
        if p1 != 0x04 or len(data) < 5 or not PIV_AID.startswith(data):
            raise SW(0x6A82)
        return self.APT

    def get_data(self, p1, p2, data):
        if (p1, p2) != (0x3F, 0xFF):
            raise SW(0x6A86)
        tag = parse_tlv(data).get(0x5C)
        if tag is None:
            raise SW(0x6A80)
        if tag == b"\x7e":
            return self.DISCOVERY
        if tag not in self.objects:
            raise SW(0x6A82)
        if tag == self.PRINTED and not self.verified:
            raise SW(0x6982)
        return tlv(b"\x53", self.objects[tag])

    def verify(self, p1, p2, data):
        if p2 != 0x80:
            raise SW(0x6A88)  # only the PIV application PIN exists
        if p1 == 0xFF and not data:
            self.verified = False
            return b""
        if p1 != 0x00:
            raise SW(0x6A86)
        tries = self.ident["tries"]
        if tries == 0:
            raise SW(0x6983)
        if not data:
            if self.verified:
                return b""
            raise SW(0x63C0 | tries)
        if len(data) != 8:
            raise SW(0x6A80)
        if data.rstrip(b"\xff") != self.ident["pin"].encode():
            self.verified = False
            self.save_tries(tries - 1)
            raise SW(0x63C0 | (tries - 1))
        if tries != MAX_TRIES:
            self.save_tries(MAX_TRIES)
        self.verified = self.just_verified = True
        return b""

    def general_authenticate(self, alg, ref, data):
        fields = parse_tlv(parse_tlv(data).get(0x7C, b""))
        if ref == 0x9B and fields.get(0x81) == b"":
            return tlv(b"\x7c", tlv(b"\x81", secrets.token_bytes(8)))
        slot = SLOTS.get(ref)
        if slot is None or slot.alg != alg:
            raise SW(0x6A86)
        if fields.get(0x82) != b"":
            raise SW(0x6A80)
        if (slot.pin == "once" and not self.verified
                or slot.pin == "always" and not self.fresh):
            raise SW(0x6982)
        key = self.keys[ref]
        if 0x81 in fields:
            out = (rsa_private if alg == RSA2048 else ecdsa_sign)(
                key, fields[0x81])
        elif 0x85 in fields and alg == P256:
            out = ecdh(key, fields[0x85])
        else:
            raise SW(0x6A80)
        return tlv(b"\x7c", tlv(b"\x82", out))


def parse_apdu(apdu):
    """(cla, ins, p1, p2, data, le) of a short or extended C-APDU; le is
    None when absent, 256 or 65536 for a zero Le."""
    if len(apdu) < 4:
        raise SW(0x6700)
    cla, ins, p1, p2 = apdu[:4]
    body, data, le = apdu[4:], b"", None
    if len(body) == 1:
        le = body[0] or 256
    elif body and body[0] != 0:
        data, rest = body[1:1 + body[0]], body[1 + body[0]:]
        if len(data) != body[0] or len(rest) > 1:
            raise SW(0x6700)
        le = (rest[0] or 256) if rest else None
    elif body:  # extended length
        if len(body) == 3:
            le = int.from_bytes(body[1:3], "big") or 65536
        else:
            n = int.from_bytes(body[1:3], "big")
            data, rest = body[3:3 + n], body[3 + n:]
            if n == 0 or len(data) != n or len(rest) not in (0, 2):
                raise SW(0x6700)
            le = (int.from_bytes(rest, "big") or 65536) if rest else None
    return cla, ins, p1, p2, data, le


def rsa_private(key, data):
    """The raw RSA private operation (padding is the host's business)."""
    pub, priv = key.public_key().public_numbers(), key.private_numbers()
    c = int.from_bytes(data, "big")
    if len(data) != (pub.n.bit_length() + 7) // 8 or c >= pub.n:
        raise SW(0x6A80)
    m1, m2 = pow(c, priv.dmp1, priv.p), pow(c, priv.dmq1, priv.q)
    m = m2 + (priv.iqmp * (m1 - m2) % priv.p) * priv.q  # CRT
    return m.to_bytes(len(data), "big")


def ecdsa_sign(key, digest):
    """ECDSA (DER) of a hash made off card, cut or zero-padded to 32
    bytes."""
    digest = digest[:32].rjust(32, b"\x00")
    return key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def ecdh(key, point):
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                            point)
    except ValueError:
        raise SW(0x6A80) from None
    return key.exchange(ec.ECDH(), peer)


# --- the connection to vpcd -------------------------------------------------

def recv_exact(sock, n):
    """n bytes from vpcd, or None when it has closed the connection."""
    buf = b""
    while len(buf) < n:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def exchange(card, sock, verbose):
    """Answers one message from vpcd; False once the connection is gone."""
    try:
        head = recv_exact(sock, 2)
        msg = head and recv_exact(sock, struct.unpack(">H", head)[0])
        if msg is None:
            return False
        if len(msg) == 1:  # control code
            if msg[0] in (0, 1, 2):
                card.power_on()
            answer = ATR if msg[0] == 4 else None
        else:
            answer = card.process(msg)
            if verbose:
                log("> " + msg.hex())
                log("< " + answer.hex())
        if answer is not None:
            sock.sendall(struct.pack(">H", len(answer)) + answer)
        return True
    except OSError:
        return False


def serve(card, host, port, verbose):
    """Keeps the card in the reader (connected to vpcd) until SIGUSR1 and
    from SIGUSR2 on; returns on SIGTERM or SIGINT."""
    want = {"inserted": True, "stop": False}

    def on_signal(signum, frame):
        if signum in (signal.SIGUSR1, signal.SIGUSR2):
            want["inserted"] = signum == signal.SIGUSR2
        else:
            want["stop"] = True

    # The handlers only set flags; the wake-up socket ends select().
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)

    sock = None
    while not want["stop"]:
        if sock and not want["inserted"]:
            sock.close()
            sock = None
            card.power_on()
            log("pulled")
        if not sock and want["inserted"]:
            try:
                sock = socket.create_connection((host, port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                log("inserted into %s:%d" % (host, port))
            except OSError:
                sock = None  # no reader yet: try again shortly
        retry = 0.1 if want["inserted"] and not sock else None
        ready, _, _ = select.select([wake_r] + ([sock] if sock else []),
                                    [], [], retry)
        if wake_r in ready:
            while True:
                try:
                    wake_r.recv(64)
                except BlockingIOError:
                    break
        if sock in ready and not exchange(card, sock, verbose):
            log("vpcd closed the connection")
            sock.close()
            sock = None
            card.power_on()
    if sock:
        sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state", required=True, help="the card's directory")
    ap.add_argument("--ca", help="the test CA's directory "
                    "(default: STATE/../ca)")
    ap.add_argument("--name", default="alice",
                    help="the holder of a new card; mail NAME@example.org")
    ap.add_argument("--pin", default="123456", help="the PIN of a new card")
    ap.add_argument("--host", default="127.0.0.1", help="vpcd's address")
    ap.add_argument("--port", type=int, default=35963, choices=(35963, 35964),
                    help="vpcd's port: its first or second reader")
    ap.add_argument("--init", action="store_true",
                    help="make the card if new, then exit")
    ap.add_argument("--verbose", action="store_true", help="log every APDU")
    args = ap.parse_args()
    if not 6 <= len(args.pin) <= 8:
        ap.error("a PIV PIN has 6 to 8 characters")

    state = os.path.abspath(args.state)
    os.makedirs(state, mode=0o700, exist_ok=True)
    if not os.path.exists(os.path.join(state, "card.json")):
        ca_dir = args.ca or os.path.join(os.path.dirname(state), "ca")
        card_create(state, ca_dir, args.name, args.pin)
    card = Card(state)
    if not args.init:
        serve(card, args.host, args.port, args.verbose)


if __name__ == "__main__":
    main()
