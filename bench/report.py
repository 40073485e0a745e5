#!/usr/bin/env python3
"""Runs the benchmarks bench/all.sh has set up (agent.py: cardagent-bench;
smime.py: whole processes) and regenerates their tables in
docs/benchmarks.md (issue 7).

Each table has a reference (its first row); every row shows its median,
the min-max over runs and its ratio to the reference, all measured in this
run, and the project's goals for it, marked met or not met from these
numbers. The tables go between <!-- bench:NAME:begin --> and
<!-- bench:NAME:end --> in the doc, each block stamped with the date, the
machine and the versions measured; the text outside the markers is not
touched. With --no-write the blocks are printed and the doc left alone.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

DOC = "docs/benchmarks.md"


class Goal:
    """One of the project's goals for a row: its median at most `limit`
    times the reference's (of=None) or another row's (of=that row's key),
    or its peak RSS at most rss_mib."""

    def __init__(self, limit=None, of=None, rss_mib=None):
        self.limit, self.of, self.rss_mib = limit, of, rss_mib

    def render(self, row, table):
        if self.rss_mib is not None:
            met = row.rss is not None and row.rss <= self.rss_mib * 1024
            return "<= %g MiB: %s" % (self.rss_mib, mark(met))
        other = table.row(self.of) if self.of else table.rows[0]
        text = "<= %sx" % limit_str(self.limit)
        if self.of:
            text += " of %s" % self.of
        if other.skip:
            return text + ": not measured"
        # Judged on the ratio as printed, so that "1.00x" reads "met" for
        # "<= 1.0x"; against the reference the ratio column has it already.
        r = round(row.median / other.median, 2)
        return "%s: %s%s" % (text, mark(r <= self.limit),
                             " (%.2fx)" % r if self.of else "")


def limit_str(v):
    """1 -> "1.0", 1.05 -> "1.05": goals read as the doc always wrote them."""
    s = "%g" % v
    return s if "." in s else s + ".0"


def mark(met):
    return "met" if met else "not met"


class Row:
    """A measured command or path: samples in the table's unit (one per
    run), peak RSS in KiB or None, per-run ratios to the reference when
    the runs pair them (cardagent-bench's); or skip, why it could not be
    measured here. key names it in goals and notes."""

    def __init__(self, key, name, samples=(), rss=None, goals=(), skip=None,
                 ratios=None):
        self.key, self.name, self.samples = key, name, list(samples)
        self.rss, self.goals, self.skip, self.ratios = rss, goals, skip, ratios

    @property
    def median(self):
        return statistics.median(self.samples)


class Table:
    """Rows measured in one run, the first the reference of the ratios;
    notes: (label, key, key) ratios printed under the table."""

    def __init__(self, title, unit, rows, notes=()):
        self.title, self.unit, self.rows, self.notes = title, unit, rows, notes

    def row(self, key):
        return next(r for r in self.rows if r.key == key)

    def fmt(self, v):
        if self.unit == "us":
            return "%.0f us" % v
        return ("%.1f ms" if v < 100 else "%.0f ms") % v

    def render(self):
        rss = any(r.rss is not None for r in self.rows)
        head = ["median", "min-max", "ratio"] + (["peak RSS"] if rss else [])
        out = ["| %s | %s | goal |" % (self.title, " | ".join(head)),
               "|---" * (len(head) + 2) + "|"]
        ref = self.rows[0]
        for r in self.rows:
            if r.skip:
                cells = ["%s: not measured (%s)" % (r.name, r.skip)]
                cells += ["-"] * (len(head) + 1)
                out.append("| %s |" % " | ".join(cells))
                continue
            ratio = "%.2fx" % (r.median / ref.median)
            if r.ratios and r is not ref:
                ratio += " (%.2f-%.2fx)" % (min(r.ratios), max(r.ratios))
            rng = "%s-%s" % (self.fmt(min(r.samples)).split()[0],
                             self.fmt(max(r.samples)))
            cells = [r.name, self.fmt(r.median), rng, ratio]
            if rss:
                cells.append("%.1f MiB" % (r.rss / 1024)
                             if r.rss is not None else "-")
            cells.append("; ".join(g.render(r, self) for g in r.goals))
            out.append("| %s |" % " | ".join(cells))
        if self.notes:
            out.append("")
        for label, a, b in self.notes:
            ra, rb = self.row(a), self.row(b)
            if ra.skip or rb.skip:
                out.append("- %s: not measured" % label)
            else:
                out.append("- %s: %.2fx" % (label, ra.median / rb.median))
        return "\n".join(out)


def cmd_out(cmd):
    """The first line cmd prints, or "" when it cannot run."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def deb_version(pkg):
    """The upstream version of an installed Debian package (no epoch, no
    Debian revision), or "?"."""
    v = cmd_out(["dpkg-query", "-W", "-f", "${Version}", pkg])
    return re.sub(r"^\d+:|-[^-]*$", "", v) or "?"


def machine():
    """What a stamp says of the machine: cores, CPU model, OS and the
    versions of the token and of every peer."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    osname = "?"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    ossl = cmd_out(["openssl", "version"]).split()
    return ("%d cores (%s), %s; SoftHSM %s, OpenSSL %s, NSS %s, gpgsm %s, "
            "gnupg-pkcs11-scd %s, p11-kit %s, libp11 %s" % (
                os.cpu_count(), model, osname,
                cmd_out(["softhsm2-util", "--version"]) or "?",
                ossl[1] if len(ossl) > 1 else "?", deb_version("libnss3"),
                deb_version("gpgsm"), deb_version("gnupg-pkcs11-scd"),
                deb_version("p11-kit"),
                deb_version("libengine-pkcs11-openssl")))


def source():
    """The commit measured, and whether the tree differed from it: the
    build is of the working tree, others' edits included. (No optional
    locks: status must not take the index lock from anyone's git.)"""
    rev = cmd_out(["git", "rev-parse", "--short", "HEAD"]) or "?"
    dirty = cmd_out(["git", "--no-optional-locks", "status", "--porcelain",
                     "--untracked-files=no"])
    return "Source: %s%s" % (rev, " with uncommitted changes" if dirty else "")


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def stamp(counts, load0):
    """What a block says of how it was measured. The load average is all
    that is known of the machine's load: others may build or test on it."""
    return ("_Generated by `bash bench/all.sh` on %s. %s. Machine: %s. "
            "%s. Load average %s at the start, %s at the end; what else ran "
            "meanwhile is unknown, so compare the ratios within a table "
            "(measured in the same run), not times across stamps._" % (
                time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                source(), machine(), counts, load0, loadavg()))


def splice(doc, name, body):
    """doc with the text between bench:NAME's markers replaced by body."""
    begin, end = "<!-- bench:%s:begin -->" % name, "<!-- bench:%s:end -->" % name
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        sys.exit("%s: no %s ... %s markers" % (DOC, begin, end))
    return doc[:i + len(begin)] + "\n\n" + body + "\n\n" + doc[j:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-write", action="store_true",
                    help="print the tables, leave %s alone" % DOC)
    ap.add_argument("--only", action="append", choices=["agent", "smime"],
                    help="run only these benchmarks (repeatable)")
    args = ap.parse_args()
    only = list(dict.fromkeys(args.only or ["agent", "smime"]))
    load0 = loadavg()
    blocks = []  # (marker name, counts, tables)
    for part in only:
        # Each part's time, to choose run counts by (bench/all.sh's budget).
        t0 = time.monotonic()
        blocks += __import__(part).measure()
        print("bench: %s took %.0f s" % (part, time.monotonic() - t0),
              file=sys.stderr)
    text = {}
    for name, counts, tables in blocks:
        body = [stamp(counts, load0)]
        body += [t if isinstance(t, str) else t.render() for t in tables]
        text[name] = "\n\n".join(body)
        print("<!-- bench:%s -->\n%s\n" % (name, text[name]))
    if args.no_write:
        return 0
    with open(DOC) as f:
        doc = f.read()
    for name, body in text.items():
        doc = splice(doc, name, body)
    # Written whole or not at all: a run that fails leaves the doc as it was.
    with open(DOC + ".new", "w") as f:
        f.write(doc)
    os.replace(DOC + ".new", DOC)
    print("%s: regenerated %s" % (DOC, ", ".join(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
