"""harness.py - start real Postern instances for integration tests.

An Instance is a scratch configuration directory with its own queue, log
and ports, created by the real `postern init`, driven by the real `postern`
command, and torn down (master stopped, every process gone) by stop().
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("POSTERN_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SBIN = os.path.join(BUILD, "sbin")
LIBEXEC = os.path.join(BUILD, "libexec")


_PORTS_GIVEN = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports are taken below the kernel's ephemeral range: a port the kernel hands
# to bind(0) can meanwhile become the local end of some test's outgoing
# connection, and the master's listener then fails with "address in use".
# Each process starts at its own place in the range, so that tests running in
# parallel (ctest -j) rarely probe the same ports.
_PORT_LOW = 10000
_PORT_HIGH = min(_ephemeral_low(), 32768)
_next_port = None


def free_port():
    """A TCP port on 127.0.0.1 that nothing is bound to now, and that this
    process has not been given before (a test that asks for twenty ports in
    a row, one per master.cf service, gets twenty different ones)."""
    global _next_port
    if _PORT_HIGH - _PORT_LOW < 1000:  # an unusual ephemeral range: the kernel's choice
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _PORTS_GIVEN:
                _PORTS_GIVEN.add(port)
                return port
        raise RuntimeError("no fresh TCP port found")
    span = _PORT_HIGH - _PORT_LOW
    if _next_port is None:
        _next_port = _PORT_LOW + (os.getpid() * 211) % span
    for _ in range(span):
        port = _next_port
        _next_port = _PORT_LOW + (_next_port - _PORT_LOW + 1) % span
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError("no fresh TCP port found")


def port_open(port):
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


# main.cf text for instances that run without qmgr on purpose: no qmgr
# means no mail flow tokens, and cleanup would wait in_flow_delay (1 s) before
# every message (src/lib/server/flow.h), slowing such tests for nothing.
NO_QMGR_FLOW = "in_flow_delay = 0\n"


def is_root():
    return os.geteuid() == 0


class Instance:
    """A scratch instance. With as_user (a pwd entry), every command runs as
    that user through setpriv, from a copy of the binaries that user can
    execute (the build tree may be in a directory only root can enter)."""

    def __init__(self, name="inst", main_cf_extra="", master_cf=None, port=None, as_user=None):
        self.root = tempfile.mkdtemp(prefix=f"postern-{name}-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.dir = os.path.join(self.root, "etc")
        self.port = port or free_port()
        self.as_user = as_user
        self.sbin = SBIN
        if as_user is not None:
            bindir = os.path.join(self.root, "bin")
            shutil.copytree(SBIN, os.path.join(bindir, "sbin"))
            shutil.copytree(LIBEXEC, os.path.join(bindir, "libexec"))
            self.sbin = os.path.join(bindir, "sbin")
            os.chown(self.root, as_user.pw_uid, as_user.pw_gid)
        self.run(["init", "-p", str(self.port)])
        if as_user is not None:
            main_extra = f"daemon_directory = {os.path.join(bindir, 'libexec')}\n"
            main_cf_extra = main_extra + main_cf_extra
        if main_cf_extra:
            with open(self.path("main.cf"), "a") as f:
                f.write(main_cf_extra)
        if master_cf is not None:
            self.write_master_cf(master_cf)

    # --- files -------------------------------------------------------
    def path(self, *p):
        return os.path.join(self.dir, *p)

    @property
    def queue(self):
        return self.path("queue")

    def write_master_cf(self, text):
        with open(self.path("master.cf"), "w") as f:
            f.write(text)

    def maillog(self):
        try:
            with open(self.path("maillog"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.maillog()), timeout, what=f"log line /{pattern}/")

    def queued_with(self, marker):
        """Queue IDs of complete files in incoming/ whose bytes hold `marker`."""
        found = []
        for root, _, files in os.walk(os.path.join(self.queue, "incoming")):
            for name in files:
                path = os.path.join(root, name)
                try:
                    complete = os.stat(path).st_mode & 0o100
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if complete and marker.encode() in data:
                    found.append(name)
        return found

    # --- commands ----------------------------------------------------
    def cmd(self, name, args, check=True, input=None, env=None, timeout=60):
        e = dict(os.environ)
        e.pop("MAIL_CONFIG", None)
        if env:
            e.update(env)
        argv = [os.path.join(self.sbin, name), "-c", self.dir] + list(args)
        if self.as_user is not None:
            argv = ["setpriv", f"--reuid={self.as_user.pw_uid}", f"--regid={self.as_user.pw_gid}",
                    "--clear-groups", "--"] + argv
        p = subprocess.run(argv, capture_output=True, text=True, input=input, env=e, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def run(self, args, check=True):
        return self.cmd("postern", args, check=check)

    def start(self):
        self.run(["start"])

    def stop(self):
        if self.run(["status"], check=False).returncode == 0:
            self.run(["stop"])

    def reload(self):
        self.run(["reload"])

    def master_pid(self):
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            return int(f.read().strip())

    def processes(self):
        """pid -> argv of every process started with this instance's -c DIR."""
        found = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            argv = [a.decode(errors="replace") for a in argv if a]
            if self.dir in argv and "-c" in argv:
                try:
                    with open(f"/proc/{d}/stat") as f:
                        if f.read().split(")")[-1].split()[0] == "Z":
                            continue
                except OSError:
                    continue
                found[int(d)] = argv
        return found

    def service_pids(self, service):
        return {pid for pid, argv in self.processes().items()
                if "-n" in argv and argv[argv.index("-n") + 1] == service}

    def cleanup(self):
        try:
            self.stop()
        finally:
            for pid in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            shutil.rmtree(self.root, ignore_errors=True)


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class SmtpClient:
    """A raw SMTP connection for tests: send bytes, read whole replies, and
    switch to TLS (STARTTLS, or wrap=ssl context for wrapper mode)."""

    def __init__(self, port, banner=True, timeout=20, source="127.0.0.1", wrap=None, server_hostname=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        if wrap is not None:
            self.s = wrap.wrap_socket(self.s, server_hostname=server_hostname)
        self.buf = b""
        self.banner = self.reply() if banner else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def reply(self):
        """One complete (possibly multi-line) reply as text, or '' at EOF."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    return "\n".join(lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.decode(errors="replace").rstrip("\r")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def ask(self, cmd):
        self.send(cmd + "\r\n")
        return self.reply()

    def starttls(self, context, server_hostname=None):
        """The TLS handshake on this connection (after a 220 to STARTTLS)."""
        self.s = context.wrap_socket(self.s, server_hostname=server_hostname)

    def rest(self):
        """Everything until the server closes."""
        data = self.buf
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        self.buf = b""
        return data.decode(errors="replace")

    def close(self):
        self.s.close()


def smtpd_master_cf(services, ports):
    """master.cf text for tests of smtpd: one 127.0.0.1 smtpd service per
    entry of `services` (name -> its "-o ..." options, with a fresh port
    stored in ports[name]), then cleanup and, when built, trivial-rewrite."""
    lines = ["# service type private unpriv chroot wakeup maxproc command\n"]
    for name, opts in services.items():
        ports[name] = free_port()
        lines.append(f"127.0.0.1:{ports[name]} inet n - n - - smtpd {opts}\n")
    lines.append("cleanup unix n - n - 0 cleanup\n")
    if os.path.exists(os.path.join(LIBEXEC, "trivial-rewrite")):
        lines.append("rewrite unix - - n - - trivial-rewrite\n")
    return "".join(lines)


def queue_master_cf(smtpd_port, transports=""):
    """master.cf text for an instance that queues and delivers: smtpd on
    127.0.0.1:smtpd_port, cleanup, qmgr (5 s wakeup), trivial-rewrite and the
    bounce services, then `transports` (more master.cf lines)."""
    return f"""# service type private unpriv chroot wakeup maxproc command
127.0.0.1:{smtpd_port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 5 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
""" + transports


def read_smtp_data(f):
    """An SMTP server's DATA phase: the lines from `f` (anything with
    readline(limit)) up to the lone ".", still dot-stuffed; None when the
    client went away first."""
    data = b""
    while True:
        line = f.readline(1 << 20)
        if not line:
            return None
        if line == b".\r\n":
            return data
        data += line


def queued_id(reply):
    """The queue ID in a "250 2.0.0 Ok: queued as ID" reply, or None."""
    m = re.search(r"queued as (\S+)", reply)
    return m.group(1) if m else None


class LineClient:
    """A tiny line-oriented client for the test daemon's stream protocol."""

    def __init__(self, addr, timeout=10.0):
        if isinstance(addr, str):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.s = socket.socket()
        self.s.settimeout(timeout)
        self.s.connect(addr)
        self.buf = b""

    def ask(self, line):
        self.s.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode()

    def close(self):
        self.s.close()
