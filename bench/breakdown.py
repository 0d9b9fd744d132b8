#!/usr/bin/env python3
"""breakdown.py - where one MTA's time goes in the local (Maildir) flow.

bench.py says how fast each MTA is; this says why. It starts one MTA the way
bench.py does (same main.cf, same master.cf, a scratch directory under /tmp),
warms it up, then sends COUNT messages of 4 KiB over 20 sessions to the
benchmark user's Maildir and reports, per message:

  - the machine's CPU time by kind (/proc/stat: user, system, iowait, softirq,
    idle, steal), smtp-source included;
  - CPU time per program name, from `perf record -a` sampling every CPU
    2,000 times a second (a process that lives 50 ms between two readings
    of /proc would be missed; samples are not);
  - sleeps and preemptions per program name, from the sched_switch trace
    point (a sleep is a wait for an I/O, a peer's answer or a lock; a
    preemption is time the process wanted the CPU and another had it);
  - the CPU of every child the master reaped during the run (exact);
  - how many processes of each daemon served the run (distinct PIDs in the
    maillog): the master restarts one every max_use clients, and a restart
    costs a fork, an exec and a start-up.

Options change one thing at a time: --set NAME=VALUE for main.cf (e.g.
max_use=100000 to see what restarts cost), --service-option SERVICE:NAME=VALUE
for one master.cf service (e.g. local:max_use=1 to price one daemon's
restart).

Like bench.py it needs root and Debian's postfix (for smtp-source); run
bench/run.sh once first. It also needs perf (Debian package linux-perf). Nothing here is a test and nothing is asserted.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def children_ticks(pid):
    """The master's cutime + cstime: CPU of every child it has reaped."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[13]) + int(fields[14])


def machine_ticks():
    with open("/proc/stat") as f:
        return list(map(int, f.readline().split()[1:9]))


PERF_HZ = 2000


def perf_breakdown(path):
    """Per program name: CPU samples (each 1/PERF_HZ s of one CPU), sleeps
    and preemptions, from a `perf record -e cpu-clock -e sched:sched_switch`
    file."""
    out = subprocess.run(["perf", "script", "-i", path, "-F", "comm,event,trace"], capture_output=True,
                         text=True, check=True).stdout
    samples = collections.Counter()
    sleeps = collections.Counter()
    preempts = collections.Counter()
    for line in out.splitlines():
        if "sched:sched_switch:" in line:
            m = re.search(r"prev_comm=(.*?) prev_pid=\d+ .*?prev_state=(\S+)", line)
            if m:
                (preempts if m.group(2).startswith("R") else sleeps)[m.group(1)] += 1
        elif "cpu-clock" in line:
            samples[line.split("cpu-clock")[0].strip()] += 1
    return samples, sleeps, preempts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mta", choices=["postern", "postfix"], default="postern")
    ap.add_argument("--build", default=os.environ.get("POSTERN_BUILD", os.path.join(bench.REPO, "build-bench")),
                    help="Postern build directory (default $POSTERN_BUILD or build-bench)")
    ap.add_argument("--count", type=int, default=6000, help="messages measured (after 500 of warm-up)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a main.cf setting")
    ap.add_argument("--service-option", action="append", default=[], metavar="SERVICE:NAME=VALUE",
                    help="a -o option for one master.cf service, e.g. local:max_use=1")
    ap.add_argument("--perf-data", metavar="FILE", default="/tmp/postern-breakdown.perf",
                    help="where perf writes its samples (kept for perf report)")
    ap.add_argument("--call-graph", action="store_true",
                    help="record call graphs too (perf --call-graph dwarf), for perf report")
    ap.add_argument("--timeout", type=float, default=300)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("breakdown.py: must run as root (like bench.py)")
    if not shutil.which("perf"):
        sys.exit("breakdown.py: needs perf (apt-get install linux-perf)")
    if opts.count < 1:
        sys.exit("breakdown.py: --count wants at least 1")
    for kv in opts.set:
        name, sep, value = kv.partition("=")
        if not sep or not re.fullmatch(r"[a-z0-9_]+", name.strip()) or "\n" in value:
            sys.exit(f"breakdown.py: --set wants NAME=VALUE, not {kv!r}")
        bench.EXTRA_MAIN_CF[name.strip()] = value.strip()
    service_opts = []
    for so in opts.service_option:
        svc, sep, kv = so.partition(":")
        if not sep or not re.fullmatch(r"[a-z0-9_-]+", svc) or not re.fullmatch(r"[a-z0-9_]+=[^\s,]+", kv):
            sys.exit(f"breakdown.py: --service-option wants SERVICE:NAME=VALUE, not {so!r}")
        service_opts.append((svc, kv))

    user = bench.bench_user()
    mta = bench.Postern(False, opts.build) if opts.mta == "postern" else bench.Postfix(False)
    perf = None
    try:
        mta.setup()
        if service_opts:
            path = os.path.join(mta.etc, "master.cf")
            with open(path) as f:
                lines = f.read().splitlines()
            for svc, kv in service_opts:
                # A service is named by its master.cf name or, for the smtpd
                # listener (named 127.0.0.1:PORT), by its command.
                hits = [i for i, l in enumerate(lines)
                        if l.split()[:1] == [svc] or (not l.lstrip().startswith("#")
                                                      and l.split()[7:8] == [svc])]
                if not hits:
                    sys.exit(f"breakdown.py: no service {svc!r} in {path}")
                for i in hits:
                    lines[i] += f" -o {kv}"
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
        mta.start()
        mta.wait_listening()
        bench.clear_maildir(user)
        bench.settle()
        flow = ["-s", "20", "-l", "4096", "-t", bench.LOCAL_RCPT]
        bench.measure_flow(mta, bench.smtp_source(mta, flow + ["-m", "500"]), 500,
                           lambda: bench.maildir_count(user), opts.timeout, "warm-up")
        bench.clear_maildir(user)
        bench.settle()
        log_before = len(mta.maillog_text())

        master = mta.master_pid()
        # Without call graphs, kernel samples on this kind of VM land on the
        # user instruction that trapped; --call-graph shows the kernel side.
        graph = ["--call-graph", "dwarf,16384"] if opts.call_graph else []
        perf = subprocess.Popen(["perf", "record", "-a", *graph, "-e", f"cpu-clock/freq={PERF_HZ}/", "-e",
                                 "sched:sched_switch", "-o", opts.perf_data, "--", "sleep", "100000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        reaped0 = children_ticks(master)
        m0 = machine_ticks()
        elapsed, _ = bench.measure_flow(mta, bench.smtp_source(mta, flow + ["-m", str(opts.count)]), opts.count,
                                        lambda: bench.maildir_count(user), opts.timeout, "local")
        m1 = machine_ticks()
        reaped1 = children_ticks(master)
        log_text = mta.maillog_text()[log_before:]
    finally:
        # perf records until told to stop, whatever happened above.
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        mta.teardown()
        # Moved aside, not deleted: on ext4 without a journal, deleting
        # thousands of files slows the next minutes' file creation (the
        # inode allocator skips recently freed inodes), which would charge
        # this run's clean-up to the next run. bench.py deletes them at its
        # end (purge_maildirs()).
        bench.clear_maildir(user)

    n = opts.count
    ms = 1000.0 / os.sysconf("SC_CLK_TCK") / n   # ticks -> ms per message
    print(f"{opts.mta}: {n} messages to Maildir in {elapsed:.2f} s = {n / elapsed:,.0f} msg/s")
    if bench.EXTRA_MAIN_CF or service_opts:
        print("  with " + ", ".join([f"{k} = {v}" for k, v in bench.EXTRA_MAIN_CF.items()] +
                                    [f"{s} -o {kv}" for s, kv in service_opts]))
    d = [b - a for a, b in zip(m0, m1)]
    kinds = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    busy = sum(d) - d[3] - d[4]
    print(f"machine, ms per message: busy {busy * ms:.3f} = " +
          ", ".join(f"{k} {v * ms:.3f}" for k, v in zip(kinds, d) if k not in ("idle", "iowait", "nice") and v) +
          f"; idle {d[3] * ms:.3f}, iowait {d[4] * ms:.3f}")

    samples, sleeps, preempts = perf_breakdown(opts.perf_data)
    per_sample = 1000.0 / PERF_HZ / n  # ms of CPU per message per sample
    print("per program name, per message (perf; smtp-source is the load generator):")
    print(f"  {'name':16s} {'CPU ms':>7s} {'sleeps':>7s} {'preempted':>9s}")
    for name, c in samples.most_common():
        if name.startswith("swapper") or c * per_sample < 0.001:
            continue
        print(f"  {name:16s} {c * per_sample:7.3f} {sleeps[name] / n:7.2f} {preempts[name] / n:9.2f}")
    print(f"  children the master reaped during the run: {(reaped1 - reaped0) * ms:.3f} ms per message "
          "(in full, including what the sampling missed)")

    lives = collections.Counter()
    for prog, pid in set(re.findall(r" (?:postern|postfix)/([a-z-]+)\[(\d+)\]", log_text)):
        lives[prog] += 1
    if lives:
        print("processes that logged during the run: " +
              ", ".join(f"{k} {v}" for k, v in sorted(lives.items(), key=lambda x: -x[1])))
    delays = [float(x) for x in re.findall(r"relay=local, delay=([\d.]+),", log_text)]
    if delays:
        delays.sort()
        print(f"local status lines: {len(delays)}; delay median {statistics.median(delays):.2f} s, "
              f"max {delays[-1]:.2f} s")


if __name__ == "__main__":
    main()
