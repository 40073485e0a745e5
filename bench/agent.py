"""The agent's and its PKCS#11 module's tables (issue 5): cardagent-bench
run AGENT_RUNS times, each run signing ITERATIONS times on every path
(direct C_Sign, the agent, cardagent-pkcs11.so, p11-kit's RPC) in
alternating batches.
A row's samples are its per-run medians, its ratios the per-run ratios to
direct C_Sign: both taken in the same process and batches.

Imported by report.py; bench/all.sh sets up the environment it reads.
"""
import os
import statistics
import subprocess

from report import Goal, Row, Table

SCALE = int(os.environ.get("BENCH_SCALE", "1"))
RUNS = int(os.environ.get("AGENT_RUNS", "15")) * SCALE
ITERS = int(os.environ.get("ITERATIONS", "2000"))
MODULE = "cardagent-pkcs11.so"
P11KIT = "p11-kit-client.so"
# The project's goals: the agent's ratio to direct C_Sign per key
# (docs/benchmarks.md), and the module no slower than p11-kit's RPC.
KEYS = [("rsa2048-sign", "RSA-2048", 1.05), ("p256-sign", "P-256", 1.5)]


def run_all():
    """{(key, path): [median us per run]} and {hops: [median us per run]}."""
    via = [os.path.join(os.environ["TOP"], "build-bench/lib", MODULE)]
    if not os.environ.get("P11KIT_SKIP"):
        via.append(os.environ["P11KIT_CLIENT"])
    cmd = [os.path.join(os.environ["BIN"], "cardagent-bench"),
           "--module", os.environ["FIXTURE_MODULE"], "--token", "alice",
           "--pin", os.environ["FIXTURE_ALICE_PIN"], "--iterations",
           str(ITERS), "--tsv"]
    for label, _, _ in KEYS:
        cmd += ["--key", label]
    for v in via:
        cmd += ["--via", v]
    sign, ipc = {}, {}
    for _ in range(RUNS):
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                             text=True).stdout
        for line in out.splitlines():
            f = line.split("\t")
            if f[0] == "sign":
                sign.setdefault((f[1], f[2]), []).append(float(f[3]))
            elif f[0] == "ipc":
                ipc.setdefault(f[1], []).append(float(f[2]))
    return sign, ipc


def path_row(sign, key, path, rowkey, name, goals=()):
    s = sign[(key, path)]
    if path == "direct":
        return Row(rowkey, name, s, goals=goals)
    ref = sign[(key, "direct")]
    return Row(rowkey, name, s, goals=goals,
               ratios=[a / b for a, b in zip(s, ref)])


def measure():
    """The agent and pkcs11 blocks for report.py."""
    sign, ipc = run_all()
    agent, pkcs11 = [], []
    for _, key, goal in KEYS:
        direct = path_row(sign, key, "direct", "direct",
                          "direct `C_Sign`, in-process (the floor)")
        agent.append(Table(key + " sign", "us", [
            direct,
            path_row(sign, key, "cardagent", "cardagent",
                     "through cardagent (`cac_sign()`, socket)",
                     [Goal(goal)])]))
        rows = [direct, path_row(sign, key, MODULE, "module",
                                 "through `%s` (agent)" % MODULE,
                                 [Goal(1.0, of="p11-kit")])]
        if os.environ.get("P11KIT_SKIP"):
            rows.append(Row("p11-kit", "p11-kit's RPC",
                            skip=os.environ["P11KIT_SKIP"]))
        else:
            rows.append(path_row(sign, key, P11KIT, "p11-kit",
                                 "through p11-kit's RPC (`%s` -> "
                                 "`p11-kit server`)" % P11KIT))
        pkcs11.append(Table(key + " sign", "us", rows))
    hop = "%.0f us (%.0f-%.0f)"
    agent.append("IPC floor on this machine, same runs (median round trip "
                 "of one byte through socket pairs): one process hop %s, "
                 "two hops %s." % tuple(
                     hop % (statistics.median(v), min(v), max(v))
                     for v in (ipc["1"], ipc["2"])))
    counts = "%d runs of cardagent-bench, %d signatures per path and key " \
             "in each (after 20 to warm up); a row's samples are its " \
             "per-run medians, the ratio's range the per-run ratios" % (
                 RUNS, ITERS)
    return [("agent", counts, agent),
            ("pkcs11", counts + " (the same runs as the agent's table)",
             pkcs11)]
