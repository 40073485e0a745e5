#!/usr/bin/env python3
"""check-rules.py: a strict static check of udev rules files.

Usage: check-rules.py [--additive] FILE...

Every line must parse as udev(7) describes it: comma-separated
KEY[{attr}] OP "value" tokens, each key with an operator it accepts, every
GOTO with a LABEL further down. Stricter than udev 252, which reads a token
after a missing comma without a word, and silently never matches an
upper-case hex id (sysfs prints lower case).

--additive also requires a file that only adds to other rules: no OWNER,
GROUP, MODE, RUN, PROGRAM or NAME, and tags only ever added (TAG+=).

Prints "FILE:LINE: problem" for each problem; exits 1 if there were any.
"""
import re
import sys

MATCH = {"==", "!="}
ASSIGN = {"=", "+=", "-=", ":="}
# key: (operators allowed, "{attr}" required / optional / forbidden)
KEYS = {
    "ACTION": (MATCH, "no"), "DEVPATH": (MATCH, "no"),
    "KERNEL": (MATCH, "no"), "KERNELS": (MATCH, "no"),
    "SUBSYSTEM": (MATCH, "no"), "SUBSYSTEMS": (MATCH, "no"),
    "DRIVER": (MATCH, "no"), "DRIVERS": (MATCH, "no"),
    "ATTR": (MATCH | {"="}, "yes"), "ATTRS": (MATCH, "yes"),
    "SYSCTL": (MATCH | {"="}, "yes"),
    "ENV": (MATCH | {"=", "+="}, "yes"),
    "CONST": (MATCH, "yes"),
    "TAG": (MATCH | {"=", "+=", "-="}, "no"), "TAGS": (MATCH, "no"),
    "TEST": (MATCH, "optional"),
    "PROGRAM": (MATCH | {"="}, "no"), "RESULT": (MATCH, "no"),
    "NAME": (MATCH | {"=", ":="}, "no"),
    "SYMLINK": (MATCH | ASSIGN, "no"),
    "OWNER": ({"=", ":=", "+="}, "no"), "GROUP": ({"=", ":=", "+="}, "no"),
    "MODE": ({"=", ":=", "+="}, "no"),
    "SECLABEL": ({"=", "+=", ":="}, "yes"),
    "RUN": ({"=", "+=", ":="}, "optional"),
    "IMPORT": ({"=", "=="}, "yes"),
    "OPTIONS": ({"=", "+=", ":="}, "no"),
    "LABEL": ({"="}, "no"), "GOTO": ({"="}, "no"),
}
ATTR_TYPES = {
    "RUN": {"program", "builtin"},
    "IMPORT": {"program", "builtin", "file", "db", "cmdline", "parent"},
    "CONST": {"arch", "virt"},
}
NOT_ADDITIVE = {"OWNER", "GROUP", "MODE", "RUN", "PROGRAM", "NAME"}
TOKEN = re.compile(
    r'([A-Z_]+)(?:\{([^{}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"')


def logical_lines(path):
    """Yields (first line number, text) with continuations joined."""
    buf, start = "", None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if start is None:
                start = n
            if line.endswith("\\"):
                buf += line[:-1]
                continue
            yield start, buf + line
            buf, start = "", None
    if start is not None:
        yield start, buf


def check_value(key, attr, value, problems):
    if key in ("ATTR", "ATTRS") and attr in ("idVendor", "idProduct"):
        for alt in value.split("|"):
            if not (re.fullmatch(r"[0-9a-f]{4}", alt) or
                    re.fullmatch(r"[0-9a-f?*\[\]-]+", alt) and
                    re.search(r"[?*\[]", alt)):
                problems.append("%s{%s} value %r is not lower-case 4-digit "
                                "hex (sysfs prints lower case)" %
                                (key, attr, alt))
    if key == "ENV" and attr == "ID_USB_INTERFACES":
        for alt in value.split("|"):
            if not re.fullmatch(r"\*?:[0-9a-f?]{6}:\*?", alt):
                problems.append("ENV{ID_USB_INTERFACES} pattern %r is not "
                                "*:ccsspp:* in lower-case hex" % alt)


def check_file(path, additive):
    problems = []
    labels, gotos = {}, []
    for n, text in logical_lines(path):
        s = text.strip()
        if s == "" or s.startswith("#"):
            continue
        pos, ntok = 0, 0
        while True:
            m = TOKEN.match(s, pos)
            if m is None:
                problems.append((n, "cannot parse from %r" % s[pos:pos + 40]))
                break
            ntok += 1
            key, attr, op, value = m.groups()
            where = []
            if key not in KEYS:
                where.append("unknown key %s" % key)
            else:
                ops, needs = KEYS[key]
                if op not in ops:
                    where.append("%s does not take %s" % (key, op))
                if needs == "yes" and attr is None:
                    where.append("%s needs {attribute}" % key)
                if needs == "no" and attr is not None:
                    where.append("%s takes no {attribute}" % key)
                if key in ATTR_TYPES and attr is not None:
                    t = attr.split()[0] if attr.strip() else ""
                    if t not in ATTR_TYPES[key]:
                        where.append("%s{%s}: unknown type" % (key, attr))
                if additive and key in NOT_ADDITIVE and op not in MATCH:
                    where.append("%s set in a file that should only add"
                                 % key)
                if additive and key == "TAG" and op not in MATCH | {"+="}:
                    where.append("TAG%s: tags may only be added" % op)
                check_value(key, attr, value, where)
            if key == "LABEL":
                if value in labels:
                    where.append("LABEL %s already on line %d" %
                                 (value, labels[value]))
                labels[value] = n
            if key == "GOTO":
                gotos.append((n, value))
            problems.extend((n, w) for w in where)
            pos = m.end()
            rest = s[pos:].lstrip()
            if rest == "":
                break
            if not rest.startswith(","):
                problems.append((n, "a comma must separate tokens, at %r" %
                                 rest[:40]))
                break
            pos = len(s) - len(rest) + 1
            while pos < len(s) and s[pos] in " \t":
                pos += 1
            if pos == len(s):
                problems.append((n, "trailing comma"))
                break
        if ntok == 0:
            problems.append((n, "no token"))
    for n, target in gotos:
        if target not in labels or labels[target] < n:
            problems.append((n, "GOTO %s has no LABEL further down" % target))
    return ["%s:%d: %s" % (path, n, w) for n, w in sorted(problems)]


def main(argv):
    additive = "--additive" in argv
    files = [a for a in argv if a != "--additive"]
    if not files:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = []
    for f in files:
        out.extend(check_file(f, additive))
    for line in out:
        print(line)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
