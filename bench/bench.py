#!/usr/bin/env python3
"""bench.py - Postern against Postfix on the same machine, side by side.

Called by bench/run.sh (which installs Postfix and builds Postern first);
see bench/README.md. For each MTA in turn it creates a scratch instance
under /tmp with the same main.cf settings and the same services, starts
it, runs the four measurements, stops it and removes the scratch
directory. That is one round; it runs --rounds of them (default 3), the
MTAs taking turns to go first, and prints one table with each MTA's
median over the rounds and the ratios of the medians, then every round's
own ratios.

Measurements (the MTA under test listens on 127.0.0.1, relays to an
smtp-sink on 127.0.0.1 and delivers locally to one user's Maildir):
  memory  summed VmRSS and PSS of the master and all its descendants
          while IDLE SMTP sessions are open (greeting read, EHLO answered)
  relay   smtp-source -s 20 -m 5000 -l 4096 -> MTA -> smtp-sink; the
          clock runs from starting smtp-source until the sink has counted
          every message
  local   smtp-source -s 20 -m 3000 -l 4096 to one local user; the clock
          runs until every message is a file in ~user/Maildir/new
  serial  smtp-source -s 1 -d -m N (one session, one message at a time);
          the clock is smtp-source's own run time (every 250 waited for)

Nothing here is a test: numbers depend on the machine and on whatever else
runs on it. Postern lines whose daemons are not built are skipped and say
so; no number is ever made up.
"""
import argparse
import os
import pwd
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

BENCH_USER = "postern-bench"
MYHOSTNAME = "bench.localdomain"
SENDER = f"bench-sender@{MYHOSTNAME}"
REMOTE_RCPT = "sink@remote.bench.test"          # not local: goes to relayhost
LOCAL_RCPT = f"{BENCH_USER}@{MYHOSTNAME}"     # local: goes to local(8)
SMTPD_MAXPROC = 250  # Postfix serves one SMTP session per smtpd process

POSTFIX_SBIN = "/usr/sbin"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, interval=0.05):
    """Polls cond() until it is true or timeout passes; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def run(argv, check=True, timeout=120, env=None):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


# --- processes and memory ------------------------------------------------

def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], int(rest[1])  # state, ppid
    except (OSError, IndexError, ValueError):
        return None, None


def descendants(root_pid):
    """root_pid and every live (non-zombie) process below it."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            state, ppid = proc_state(int(d))
            if state and state != "Z":
                children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        if proc_state(pid)[0] not in (None, "Z"):
            out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def proc_kb(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_of(pids):
    """(processes, summed VmRSS kB, summed Pss kB, names) for the pids."""
    rss = pss = 0
    names = {}
    for pid in pids:
        rss += proc_kb(f"/proc/{pid}/status", "VmRSS")
        pss += proc_kb(f"/proc/{pid}/smaps_rollup", "Pss")
        try:
            with open(f"/proc/{pid}/comm") as f:
                n = f.read().strip()
            names[n] = names.get(n, 0) + 1
        except OSError:
            pass
    return len(pids), rss, pss, names


def open_idle_sessions(port, count, timeout=60.0):
    """Opens count SMTP sessions, reads each greeting, sends EHLO and reads
    the whole reply. Returns (sockets, number that got the EHLO reply)."""
    sel = selectors.DefaultSelector()
    socks = []
    state = {}  # sock -> [phase, buffer]; phase 0 greeting, 1 ehlo, 2 idle
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
        state[s] = [0, b""]
        sel.register(s, selectors.EVENT_READ)
    ready = 0
    end = time.monotonic() + timeout
    while ready < count and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                continue
            st = state[s]
            st[1] += data
            # A reply is complete at a line "ddd " (not "ddd-").
            lines = st[1].split(b"\r\n")
            if not any(len(l) >= 4 and l[3:4] == b" " for l in lines[:-1]):
                continue
            st[1] = b""
            if st[0] == 0:
                st[0] = 1
                s.setblocking(True)
                s.sendall(b"EHLO idle.bench.test\r\n")
                s.setblocking(False)
            elif st[0] == 1:
                st[0] = 2
                ready += 1
                sel.unregister(s)
    sel.close()
    return socks, ready


def close_sessions(socks):
    for s in socks:
        try:
            s.setblocking(True)
            s.settimeout(0.2)
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        s.close()


# --- the sink ---------------------------------------------------------------

class Sink:
    """smtp-sink on 127.0.0.1:port with -c; counts come from its stdout
    ("sess=N quit=N mesg=N\\r" after every message and session)."""

    def __init__(self, root):
        self.port = free_port()
        self.out = os.path.join(root, "sink.out")
        self.f = open(self.out, "wb")
        self.p = subprocess.Popen(
            [os.path.join(POSTFIX_SBIN, "smtp-sink"), "-u", "nobody", "-c", "-h", "sink.bench.test",
             f"127.0.0.1:{self.port}", "1024"],
            stdout=self.f, stderr=subprocess.DEVNULL)
        if not wait_for(self._listening, 10):
            raise RuntimeError("smtp-sink did not start")

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def count(self):
        try:
            with open(self.out, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 256))
                tail = f.read()
        except OSError:
            return 0
        m = re.findall(rb"mesg=(\d+)", tail)
        return int(m[-1]) if m else 0

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()


# --- shared configuration ------------------------------------------------

# --set NAME=VALUE: added to both MTAs' main.cf (e.g. max_use=1000 to see
# what process recycling costs each of them).
EXTRA_MAIN_CF = {}


def common_main_cf(sink_port):
    """main.cf settings both MTAs get, word for word."""
    return {
        "compatibility_level": "3.6",
        "myhostname": MYHOSTNAME,
        "mydomain": "localdomain",
        "myorigin": "$myhostname",
        "mydestination": "$myhostname, localhost.$mydomain, localhost",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks_style": "host",
        "relayhost": f"[127.0.0.1]:{sink_port}",
        "home_mailbox": "Maildir/",
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "unix:passwd.byname $alias_maps",
        "biff": "no",
        "maillog_file_prefixes": "/var, /dev/stdout, /tmp",
        "default_destination_concurrency_limit": "20",
        "local_destination_concurrency_limit": "2",
    } | EXTRA_MAIN_CF


def master_cf(port, have=lambda prog: True):
    """The same services for both; an entry whose program is missing is
    commented out (and reported), as `postern init` does."""
    entries = [
        (f"127.0.0.1:{port}", "inet", "n", "-", "n", "-", str(SMTPD_MAXPROC), "smtpd"),
        ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
        ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
        ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
        ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
        ("local", "unix", "-", "n", "n", "-", "-", "local"),
    ]
    lines = ["# written by bench/bench.py"]
    missing = []
    for e in entries:
        line = "{:<22}{:<6}{:<8}{:<8}{:<8}{:<8}{:<8}{}".format(*e)
        if have(e[7]):
            lines.append(line)
        else:
            lines.append("# not built: " + line)
            missing.append(e[7])
    return "\n".join(lines) + "\n", sorted(set(missing))


def write_main_cf(path, settings, keep_text=""):
    """Writes keep_text minus any line that sets one of settings' keys, then
    settings (so no parameter is set twice)."""
    out = []
    for line in keep_text.splitlines():
        m = re.match(r"^([A-Za-z0-9_]+)\s*=", line)
        if m and m.group(1) in settings:
            continue
        out.append(line)
    out += [f"{k} = {v}" for k, v in settings.items()]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# --- the two MTAs ----------------------------------------------------------

class Mta:
    name = "?"
    missing = []   # daemons not built (Postern only)

    def __init__(self, keep):
        self.keep = keep
        self.root = tempfile.mkdtemp(prefix=f"bench-{self.name}-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.sink = None
        self.pids_seen = set()

    def setup(self):
        """Writes the configuration; separate from __init__ so that
        teardown() runs even when this fails half-way."""
        self.sink = Sink(self.root)
        self.configure()

    def has(self, *progs):
        return not (set(progs) & set(self.missing))

    def master_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def processes(self):
        mp = self.master_pid()
        if not mp or proc_state(mp)[0] in (None, "Z"):
            return []
        pids = descendants(mp)
        self.pids_seen.update(pids)
        return pids

    def wait_listening(self):
        def ok():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(5)
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        if not wait_for(ok, 20, 0.2):
            raise RuntimeError(f"{self.name}: no SMTP greeting on 127.0.0.1:{self.port}\n{self.log_tail()}")

    def maillog_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=25):
        return "\n".join(self.maillog_text().splitlines()[-n:])

    def log_problems(self):
        return [l for l in self.maillog_text().splitlines()
                if re.search(r"\b(warning|error|fatal|panic):", l)]

    def belongs(self, pid):
        """True when pid is still one of this instance's processes (and not
        a recycled pid): Postern's carry -c DIR, Postfix's MAIL_CONFIG=DIR."""
        etc = self.etc.encode()
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    fields = f.read().split(b"\0")
            except OSError:
                return False
            if etc in fields or b"MAIL_CONFIG=" + etc in fields:
                return True
        return False

    def teardown(self):
        self.processes()  # remember every pid before the master goes
        try:
            self.stop()
        except Exception as e:  # keep going: processes must not outlive the bench
            log(f"{self.name}: stop failed: {e}")
        mp = self.master_pid()
        if mp:
            wait_for(lambda: proc_state(mp)[0] in (None, "Z"), 15, 0.1)
        # Children notice the master's exit and finish on their own; give
        # them a moment, then kill what is left (only this instance's).
        seen = self.pids_seen | set(self.processes())
        alive = lambda: [p for p in seen if proc_state(p)[0] not in (None, "Z") and self.belongs(p)]
        left = [] if wait_for(lambda: not alive(), 15, 0.2) else alive()
        if left:
            log(f"{self.name}: killing {len(left)} leftover processes")
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.sink:
            self.sink.stop()
        if self.keep:
            log(f"{self.name}: kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


class Postfix(Mta):
    name = "postfix"

    def __init__(self, keep):
        super().__init__(keep)
        self.etc = os.path.join(self.root, "etc")
        self.pid_file = os.path.join(self.root, "queue", "pid", "master.pid")
        self.maillog = os.path.join(self.root, "maillog")

    def configure(self):
        os.makedirs(self.etc)
        settings = {
            "config_directory": self.etc,
            "queue_directory": os.path.join(self.root, "queue"),
            "data_directory": os.path.join(self.root, "data"),
            "maillog_file": self.maillog,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
        }
        settings.update(common_main_cf(self.sink.port))
        write_main_cf(os.path.join(self.etc, "main.cf"), settings)
        text, _ = master_cf(self.port)
        # Postfix needs postlogd for maillog_file, and scache for the SMTP
        # connection reuse Postern's smtp does in-process; both are part of
        # its cost.
        text += "{:<22}{:<6}{:<8}{:<8}{:<8}{:<8}{:<8}{}\n".format(
            "scache", "unix", "-", "-", "n", "-", "1", "scache")
        text += "{:<22}{:<11}{:<8}{:<8}{:<8}{:<8}{:<3}{}\n".format(
            "postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(text)

    def cmd(self, *args, check=True):
        argv = [os.path.join(POSTFIX_SBIN, "postfix"), "-c", self.etc] + list(args)
        p = run(argv, check=False)
        if check and p.returncode != 0:
            # postfix(1) prints its fatal errors only to a terminal (or to
            # the log it may not have opened yet): ask again through one.
            why = p.stdout + p.stderr
            if shutil.which("script"):
                why += run(["script", "-qc", " ".join(argv), "/dev/null"], check=False).stdout
            raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {why.strip()}")
        return p

    def start(self):
        # postfix(1) chdirs to queue_directory first; `check` then creates
        # the queue tree below it (post-install create-missing).
        os.makedirs(os.path.join(self.root, "queue"), mode=0o755, exist_ok=True)
        self.cmd("check")
        self.cmd("start")
        self.wait_listening()

    def stop(self):
        if self.master_pid():
            self.cmd("stop", check=False)


class Postern(Mta):
    name = "postern"
    WANT = ["smtpd", "pickup", "cleanup", "qmgr", "trivial-rewrite", "bounce", "smtp", "local"]

    def __init__(self, keep, build):
        self.build = os.path.abspath(build)
        self.sbin = os.path.join(self.build, "sbin")
        self.libexec = os.path.join(self.build, "libexec")
        super().__init__(keep)
        self.etc = os.path.join(self.root, "etc")
        self.missing = [p for p in self.WANT if not os.access(os.path.join(self.libexec, p), os.X_OK)]
        if not os.access(os.path.join(self.libexec, "master"), os.X_OK):
            self.missing.append("master")
        self.pid_file = os.path.join(self.etc, "queue", "pid", "master.pid")
        self.maillog = os.path.join(self.etc, "maillog")

    def configure(self):
        self.cmd("init", "-p", str(self.port))
        mcf = os.path.join(self.etc, "main.cf")
        with open(mcf) as f:
            init_text = f.read()
        qdir = re.search(r"^queue_directory\s*=\s*(\S+)", init_text, re.M)
        self.pid_file = os.path.join(qdir.group(1) if qdir else os.path.join(self.etc, "queue"), "pid",
                                     "master.pid")
        ml = re.search(r"^maillog_file\s*=\s*(\S+)", init_text, re.M)
        self.maillog = ml.group(1) if ml else os.path.join(self.etc, "maillog")
        write_main_cf(mcf, common_main_cf(self.sink.port), init_text)
        text, _ = master_cf(self.port, lambda prog: prog not in self.missing)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(text)

    def cmd(self, *args, check=True):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        return run([os.path.join(self.sbin, "postern"), "-c", self.etc] + list(args), check=check, env=env)

    def start(self):
        self.cmd("start")
        self.wait_listening()

    def stop(self):
        if self.cmd("status", check=False).returncode == 0:
            self.cmd("stop", check=False)


# --- the bench user ---------------------------------------------------------

def bench_user():
    try:
        return pwd.getpwnam(BENCH_USER)
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", "--comment",
             "Postern benchmark mailbox", BENCH_USER])
        log(f"created user {BENCH_USER}")
        return pwd.getpwnam(BENCH_USER)


def clear_maildir(user):
    """Moves the Maildir aside rather than deleting it: on ext4 without a
    journal, creating files next to thousands of just-deleted inodes is much
    slower for about half a minute (the allocator skips recently freed
    inodes), which would charge one MTA's clean-up to the next one's run.
    purge_maildirs() deletes what was moved aside once nothing is measured."""
    md = os.path.join(user.pw_dir, "Maildir")
    if not os.path.lexists(md):
        return
    trash = os.path.join(user.pw_dir, ".bench-trash")
    os.makedirs(trash, mode=0o700, exist_ok=True)
    try:
        os.rename(md, os.path.join(trash, f"Maildir.{time.time_ns()}"))
    except OSError:
        shutil.rmtree(md, ignore_errors=True)


def purge_maildirs(user):
    clear_maildir(user)
    shutil.rmtree(os.path.join(user.pw_dir, ".bench-trash"), ignore_errors=True)


def maildir_count(user):
    try:
        with os.scandir(os.path.join(user.pw_dir, "Maildir", "new")) as it:
            return sum(1 for _ in it)
    except OSError:
        return 0


# --- measurements ------------------------------------------------------------

def smtp_source(mta, args):
    return [os.path.join(POSTFIX_SBIN, "smtp-source"), "-f", SENDER] + args + [f"127.0.0.1:{mta.port}"]


def measure_memory(mta, sessions):
    res = {}
    time.sleep(1.0)  # let start-up children (if any) settle
    n, rss, pss, _ = memory_of(mta.processes())
    res["idle"] = (n, rss, pss)
    socks, ready = open_idle_sessions(mta.port, sessions)
    try:
        time.sleep(1.0)
        n, rss, pss, names = memory_of(mta.processes())
        res["sessions"] = (n, rss, pss, ready, names)
    finally:
        close_sessions(socks)
    # Postfix smtpd processes stay for max_idle; they are not counted again.
    return res


class Incomplete(RuntimeError):
    """A flow that did not finish in time; got messages arrived."""

    def __init__(self, got, total, timeout, text):
        super().__init__(text)
        self.got, self.total, self.timeout = got, total, timeout

    def summary(self):
        return (f"incomplete: {self.got}/{self.total} in {self.timeout:.0f} s "
                f"({self.got / self.timeout:.1f} msg/s)")


def failure(e):
    return e.summary() if isinstance(e, Incomplete) else f"failed: {str(e).splitlines()[0]}"


def measure_flow(mta, argv, total, done_count, timeout, what):
    """Starts smtp-source; returns (seconds until done_count() >= total,
    smtp-source seconds) or raises with the state reached."""
    t0 = time.monotonic()
    src = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    src_done = None
    end = t0 + timeout
    while time.monotonic() < end:
        if src_done is None and src.poll() is not None:
            src_done = time.monotonic() - t0
            if src.returncode != 0:
                raise RuntimeError(f"{what}: smtp-source failed ({src.returncode}): {src.stderr.read()[-500:]}")
        got = done_count()
        if got >= total:
            elapsed = time.monotonic() - t0
            if src_done is None:
                src.wait(30)
                src_done = time.monotonic() - t0
            return elapsed, src_done
        # Counting is not free (for the local test, a scan of a Maildir/new
        # of up to `total` files), and the CPU it takes is the MTA's: poll
        # finely only near the end, where the timing is decided. The next
        # poll comes before half the expected remaining time has passed.
        now = time.monotonic()
        rate = got / (now - t0) if got > 0 else 0.0
        left = (total - got) / rate if rate > 0 else 0.0
        time.sleep(min(0.25, max(0.02, left / 2)))
    got = done_count()
    if src.poll() is None:
        src.kill()
        src.wait()
    raise Incomplete(got, total, timeout,
                     f"{what}: only {got} of {total} arrived within {timeout:.0f}s\n{mta.log_tail(8)}")


# Seconds of quiet before the serial and local flows, for both MTAs alike:
# the previous flow's trailing work (write-back of its log and queue files,
# cached connections closing, and here the removal of the last run's
# Maildir) is not part of the next measurement. Without it Postern's serial
# line right after the relay line measured 15% slower than after a pause.
SETTLE_SECONDS = 3.0


def settle():
    time.sleep(SETTLE_SECONDS)


def run_mta(mta, opts, user, results):
    name = mta.name
    r = results.setdefault(name, {})
    log(f"{name}: starting (scratch {mta.root}, SMTP 127.0.0.1:{mta.port}, sink 127.0.0.1:{mta.sink.port})")
    mta.start()

    # (4) memory first, on a fresh instance, so that delivery agents left
    # over from the throughput runs do not count.
    if mta.has("smtpd", "master"):
        log(f"{name}: memory with {opts.sessions} idle sessions")
        r["memory"] = measure_memory(mta, opts.sessions)
        time.sleep(1.0)
    else:
        r["memory"] = "skipped: not built: " + ", ".join(mta.missing)

    relay_path = ("smtpd", "cleanup", "trivial-rewrite", "qmgr", "smtp")
    if mta.has(*relay_path):
        log(f"{name}: relay {opts.relay} x {opts.size} B over {opts.sessions_relay} sessions")
        base = mta.sink.count()
        try:
            r["relay"] = measure_flow(
                mta, smtp_source(mta, ["-s", str(opts.sessions_relay), "-m", str(opts.relay), "-l",
                                       str(opts.size), "-t", REMOTE_RCPT]),
                opts.relay, lambda: mta.sink.count() - base, opts.timeout, "relay")
        except RuntimeError as e:
            r["relay"] = failure(e)
            log(f"{name}: {e}")

        arrived = mta.sink.count() - base
        if isinstance(r["relay"], str) and arrived > 0:
            # smtp-source was stopped at the timeout; let what the MTA had
            # accepted drain (until the sink count stops moving, at most
            # 60 s) so that the serial run does not compete with a backlog.
            log(f"{name}: letting the relay backlog drain")
            last = [mta.sink.count(), time.monotonic()]

            def settled():
                c = mta.sink.count()
                if c != last[0]:
                    last[:] = [c, time.monotonic()]
                return time.monotonic() - last[1] >= 3.0
            wait_for(settled, 60, 0.2)
        if arrived == 0:
            # The relay path is broken (the log lines below say why); do not
            # spend another timeout finding that out.
            r["serial"] = "skipped: nothing arrived in the relay run"
        else:
            settle()
            log(f"{name}: serial {opts.serial} messages over one session")
            base = mta.sink.count()
            try:
                el, src = measure_flow(
                    mta, smtp_source(mta, ["-s", "1", "-d", "-m", str(opts.serial), "-l", str(opts.size),
                                           "-t", REMOTE_RCPT]),
                    opts.serial, lambda: mta.sink.count() - base, opts.timeout, "serial")
                r["serial"] = (src, el)
            except RuntimeError as e:
                r["serial"] = failure(e)
                log(f"{name}: {e}")
    else:
        why = "skipped: not built: " + ", ".join(p for p in relay_path if not mta.has(p))
        r["relay"] = r["serial"] = why

    local_path = ("smtpd", "cleanup", "trivial-rewrite", "qmgr", "local")
    if mta.has(*local_path):
        clear_maildir(user)
        settle()
        log(f"{name}: local {opts.local} x {opts.size} B to {LOCAL_RCPT}")
        try:
            r["local"] = measure_flow(
                mta, smtp_source(mta, ["-s", str(opts.sessions_relay), "-m", str(opts.local), "-l",
                                       str(opts.size), "-t", LOCAL_RCPT]),
                opts.local, lambda: maildir_count(user), opts.timeout, "local")
        except RuntimeError as e:
            r["local"] = failure(e)
            log(f"{name}: {e}")
        clear_maildir(user)
    else:
        r["local"] = "skipped: not built: " + ", ".join(p for p in local_path if not mta.has(p))

    problems = mta.log_problems()
    r["log_problems"] = len(problems)
    if problems:
        log(f"{name}: {len(problems)} warning/error lines in the maillog, first ones:")
        for l in problems[:8]:
            print("    " + l)


# --- the table ------------------------------------------------------------------

# What orders the rounds' results of a line: seconds for the flows (a rate's
# median is the median time's), the RSS sum with sessions for memory.
ORDER_KEY = {"relay": lambda v: v[0], "local": lambda v: v[0], "serial": lambda v: v[0],
             "memory": lambda v: v["sessions"][1]}


def median_results(rounds, order):
    """Per MTA and line, the round whose result is the median (for an even
    count the worse of the middle two: the longer time, the larger
    memory); a line that failed in every round keeps the first round's
    reason. Maillog problems are summed."""
    out = {}
    for m in order:
        r = out.setdefault(m, {})
        for key, sort_key in ORDER_KEY.items():
            got = [x.get(m, {}).get(key) for x in rounds]
            ok = sorted((v for v in got if v is not None and not isinstance(v, str)), key=sort_key)
            if ok:
                r[key] = ok[len(ok) // 2]
            elif got and got[0] is not None:
                r[key] = got[0]
        r["log_problems"] = sum(x.get(m, {}).get("log_problems", 0) for x in rounds)
        r["failed_rounds"] = {k: sum(1 for x in rounds if isinstance(x.get(m, {}).get(k), str))
                              for k in ORDER_KEY}
    return out


def report_rounds(rounds, opts, order):
    """Every round's own rates and ratios, so that the spread is in view."""
    if len(rounds) < 2:
        return
    print()
    print(f"Each round ({len(rounds)}; the table above shows the medians):")
    lines = (("relay", opts.relay), ("local", opts.local), ("serial", opts.serial))
    for key, total in lines:
        cells = []
        for x in rounds:
            rates = {}
            for m in order:
                v = x.get(m, {}).get(key)
                rates[m] = None if v is None or isinstance(v, str) else total / v[0]
            text = "/".join("-" if rates[m] is None else f"{rates[m]:.0f}" for m in order)
            if len(order) == 2 and None not in rates.values() and rates["postfix"]:
                text += f" ({rates['postern'] / rates['postfix']:.2f}x)"
            cells.append(text)
        print(f"  {key:<7} {'/'.join(order)} msg/s: " + ", ".join(cells))
    cells = []
    for x in rounds:
        vals = {}
        for m in order:
            v = x.get(m, {}).get("memory")
            vals[m] = None if v is None or isinstance(v, str) else v["sessions"][1] / 1024
        cells.append("/".join("-" if vals[m] is None else f"{vals[m]:,.1f}" for m in order))
    print(f"  {'memory':<7} {'/'.join(order)} MiB: " + ", ".join(cells))


def fmt_rate(v):
    return f"{v:,.0f} msg/s" if v >= 100 else f"{v:,.1f} msg/s"


def report(results, opts, order):
    rows = []  # (label, {mta: (value, text)}, better: "higher"|"lower", target)

    def rate(mta, key, total, idx):
        v = results.get(mta, {}).get(key)
        if v is None:
            return None, "not run"
        if isinstance(v, str):
            return None, v
        secs = v[idx]
        return total / secs, f"{fmt_rate(total / secs)} ({secs:.1f} s)"

    def mem(mta, idx):
        v = results.get(mta, {}).get("memory")
        if v is None:
            return None, "not run"
        if isinstance(v, str):
            return None, v
        s = v["sessions"]
        val = s[idx]
        note = f"{val / 1024:,.1f} MiB ({s[0]} procs"
        if s[3] != opts.sessions:
            note += f", only {s[3]}/{opts.sessions} sessions up"
        return val, note + ")"

    def idle(mta, idx):
        v = results.get(mta, {}).get("memory")
        if v is None or isinstance(v, str):
            return None, "not run" if v is None else v
        n, rss, pss = v["idle"]
        val = (rss, pss)[idx]
        return val, f"{val / 1024:,.1f} MiB ({n} procs)"

    rows.append((f"1 relay {opts.relay} x {opts.size} B, {opts.sessions_relay} sessions -> sink",
                 {m: rate(m, "relay", opts.relay, 0) for m in order}, "higher", 2.0))
    rows.append((f"2 local {opts.local} x {opts.size} B -> Maildir/new",
                 {m: rate(m, "local", opts.local, 0) for m in order}, "higher", 2.0))
    rows.append((f"3 serial: 1 session, {opts.serial} msgs (-d)",
                 {m: rate(m, "serial", opts.serial, 0) for m in order}, "higher", 1.5))
    rows.append((f"4 memory, {opts.sessions} idle sessions: RSS sum",
                 {m: mem(m, 1) for m in order}, "lower", 0.5))
    rows.append((f"  (same, PSS sum from smaps_rollup)",
                 {m: mem(m, 2) for m in order}, "lower", None))
    rows.append((f"  (no sessions: RSS sum)",
                 {m: idle(m, 0) for m in order}, "lower", None))

    w0 = max(len(r[0]) for r in rows) + 2
    w = {m: max([len(m)] + [len(r[1][m][1]) for r in rows]) + 2 for m in order}
    head = "".join([f"{'measurement':<{w0}}"] + [f"{m:<{w[m]}}" for m in order])
    both = "postern" in order and "postfix" in order
    if both:
        head += "postern/postfix  target"
    print()
    print(head)
    print("-" * len(head))
    for label, vals, better, target in rows:
        line = f"{label:<{w0}}" + "".join(f"{vals[m][1]:<{w[m]}}" for m in order)
        if both:
            a, b = vals["postern"][0], vals["postfix"][0]
            if a is not None and b:
                ratio = a / b
                t = ""
                if target is not None:
                    ok = ratio >= target if better == "higher" else ratio <= target
                    t = f"{'>=' if better == 'higher' else '<='} {target:g}x  {'met' if ok else 'MISSED'}"
                line += f"{ratio:>8.2f}x        {t}"
            else:
                line += f"{'-':>8}"
        print(line.rstrip())
    print()
    print(f"Each value is the median of {opts.rounds} round(s); the ratios are those of the medians.")
    for m in order:
        failed = {k: n for k, n in results.get(m, {}).get("failed_rounds", {}).items() if n}
        if failed:
            print(f"{m}: failed rounds (not in the medians): " +
                  ", ".join(f"{k} {n} of {opts.rounds}" for k, n in failed.items()))
    print("Rates count from starting smtp-source until the last message is at the sink (1, 3 uses")
    print("smtp-source's own run time: every 250 awaited) or in Maildir/new (2). Memory: VmRSS from")
    print("/proc/PID/status (and Pss from /proc/PID/smaps_rollup) summed over the master and all its")
    print("descendants. RSS counts shared pages once per process; PSS splits them.")
    if EXTRA_MAIN_CF:
        print("Both MTAs also had: " + ", ".join(f"{k} = {v}" for k, v in EXTRA_MAIN_CF.items()))
    for m in order:
        v = results.get(m, {}).get("memory")
        if isinstance(v, dict):
            names = v["sessions"][4]
            print(f"{m} processes during the sessions: " +
                  ", ".join(f"{k} x{n}" for k, n in sorted(names.items(), key=lambda kv: -kv[1])))
        lp = results.get(m, {}).get("log_problems")
        if lp:
            print(f"{m}: {lp} warning/error/fatal lines in its maillog (see above)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["postfix", "postern"], help="run one MTA only")
    ap.add_argument("--build", default=os.environ.get("POSTERN_BUILD", os.path.join(REPO, "build-bench")),
                    help="Postern build directory (default $POSTERN_BUILD or build-bench)")
    ap.add_argument("--relay", type=int, default=5000, help="messages for the relay test")
    ap.add_argument("--local", type=int, default=3000, help="messages for the local test")
    ap.add_argument("--serial", type=int, default=1000, help="messages for the one-session test")
    ap.add_argument("--size", type=int, default=4096, help="payload bytes per message (smtp-source -l)")
    ap.add_argument("--sessions-relay", type=int, default=20, help="parallel sessions for tests 1 and 2")
    ap.add_argument("--sessions", type=int, default=200, help="idle sessions for the memory test")
    ap.add_argument("--timeout", type=float, default=150, help="seconds each flow may take at most")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of all measurements, the MTAs taking turns to go first; the table "
                         "shows each MTA's median (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories (debugging)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a main.cf setting for both MTAs (repeatable), e.g. max_use=1000")
    opts = ap.parse_args()
    for kv in opts.set:
        name, sep, value = kv.partition("=")
        if not sep or not re.fullmatch(r"[a-z0-9_]+", name.strip()) or "\n" in value:
            sys.exit(f"bench.py: --set wants NAME=VALUE, not {kv!r}")
        EXTRA_MAIN_CF[name.strip()] = value.strip()

    if os.geteuid() != 0:
        sys.exit("bench.py: must run as root (it starts MTAs and delivers to a local user)")
    for prog in ("postfix", "smtp-source", "smtp-sink"):
        if not os.access(os.path.join(POSTFIX_SBIN, prog), os.X_OK):
            sys.exit(f"bench.py: {POSTFIX_SBIN}/{prog} missing: run bench/run.sh (it installs postfix)")
    if opts.rounds < 1:
        sys.exit("bench.py: --rounds wants at least 1")
    order = [opts.only] if opts.only else ["postfix", "postern"]
    user = bench_user()
    rounds = []
    t_all = time.monotonic()
    for n in range(opts.rounds):
        # Turns alternate, so that a slow drift of the machine (other
        # guests, the page cache, the disk) does not always favour one MTA.
        turn = order if n % 2 == 0 else order[::-1]
        log(f"round {n + 1} of {opts.rounds}: {', then '.join(turn)}")
        results = {}
        for name in turn:
            run_one(name, opts, user, results)
        rounds.append(results)
    purge_maildirs(user)
    log(f"done in {time.monotonic() - t_all:.0f} s; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (other work on the machine skews the numbers)")
    report(median_results(rounds, order), opts, order)
    report_rounds(rounds, opts, order)


def run_one(name, opts, user, results):
    """One MTA's four measurements on a fresh scratch instance, into results[name]."""
    if name == "postern" and not os.access(os.path.join(opts.build, "sbin", "postern"), os.X_OK):
        log(f"postern: {opts.build}/sbin/postern not built: every Postern line is skipped")
        results["postern"] = {k: "skipped: postern not built" for k in ("memory", "relay", "serial", "local")}
        return
    mta = None
    try:
        mta = Postfix(opts.keep) if name == "postfix" else Postern(opts.keep, opts.build)
        mta.setup()
        if mta.missing:
            log(f"{name}: NOT BUILT in {opts.build}/libexec: {', '.join(mta.missing)}; "
                "the lines that need them are skipped")
        run_mta(mta, opts, user, results)
    except Exception as e:
        log(f"{name}: aborted: {e}")
        r = results.setdefault(name, {})
        for k in ("memory", "relay", "serial", "local"):
            r.setdefault(k, "aborted (see the log above)")
    finally:
        if mta is not None:
            log(f"{name}: stopping")
            mta.teardown()


if __name__ == "__main__":
    main()
