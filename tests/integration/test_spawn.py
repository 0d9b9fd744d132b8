"""spawn end to end: the master runs spawn services (Postfix's spawn(8)), and
smtpd asks a policy server that spawn started, as Debian's policyd-spf is
usually run:

    policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf

The commands are real programs (python3, id, sleep, false) running as
`nobody`; the checks are what an admin sees: SMTP replies, the command's
output on the socket, and the maillog's warnings. Needs root (the commands
run as another user).
"""
import os
import smtplib
import socket
import time
import unittest

from harness import LIBEXEC, Instance, free_port, is_root, wait_for

HOST = "mx.spawn.example"
HEADER = "# service type private unpriv chroot wakeup maxproc command\n"

# A policy server in the style of policyd-spf: requests on standard input,
# answers on standard output, until end of file. It says who it runs as, so
# that the test sees the privilege drop through SMTP.
POLICY_SCRIPT = r'''
import os, sys
attrs = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if line:
        name, _, value = line.partition("=")
        attrs[name] = value
        continue
    local = attrs.get("recipient", "").split("@")[0]
    if local == "greylist":
        action = "450 4.2.0 Greylisted by the spawned policy"
    elif local == "whoami":
        action = f"REJECT policy runs as uid {os.getuid()} gid {os.getgid()}"
    else:
        action = "DUNNO"
    sys.stdout.write(f"action={action}\n\n")
    sys.stdout.flush()
    attrs = {}
'''

INST = None
ECHO_PORT = None


def setUpModule():
    global INST
    if not is_root():
        return
    global ECHO_PORT
    port = free_port()
    ECHO_PORT = free_port()
    INST = Instance("spawn", port=port, main_cf_extra=f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname
mynetworks = 127.0.0.0/8
slow_time_limit = 2s
""")
    script = os.path.join(INST.root, "policy.py")
    with open(script, "w") as f:
        f.write(POLICY_SCRIPT)
    os.chmod(script, 0o644)
    INST.write_master_cf("".join([
        HEADER,
        f"127.0.0.1:{port} inet n - n - - smtpd "
        "-o {smtpd_recipient_restrictions = check_policy_service unix:private/policy}\n",
        "cleanup unix n - n - 0 cleanup\n",
        "rewrite unix - - n - - trivial-rewrite\n",
        "anvil unix - - n - 1 anvil\n",
        # -u: a command word that starts with "-" stays the command's.
        f"policy unix - n n - 0 spawn user=nobody argv=/usr/bin/python3 -u {script}\n",
        "whoami unix - n n - 0 spawn user=nobody argv=/usr/bin/id\n",
        "fds unix - n n - 0 spawn user=nobody argv=/bin/ls /proc/self/fd\n",
        # inetd's job: a TCP service whose command echoes one line back.
        f"127.0.0.1:{ECHO_PORT} inet n n n - 0 spawn user=nobody argv=/usr/bin/head -n 1\n",
        "slow unix - n n - 0 spawn user=nobody argv=/bin/sleep 30\n",
        "failing unix - n n - 0 spawn user=nobody argv=/bin/false\n",
        "missing unix - n n - 0 spawn user=nobody argv=/nonexistent/command\n",
        "badattr unix - n n - 0 spawn user=nobody flags=R argv=/bin/true\n",
        "asroot unix - n n - 0 spawn user=root argv=/bin/true\n",
    ]))
    INST.start()


def tearDownModule():
    if INST:
        if os.environ.get("SPAWN_TEST_KEEP_LOG"):
            with open(os.environ["SPAWN_TEST_KEEP_LOG"], "w") as f:
                f.write(INST.maillog())
        INST.cleanup()


def connect(service):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(INST.queue, "private", service))
    return s


def read_all(s):
    """Everything the command wrote, until it closed the connection."""
    out = b""
    with s:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk


@unittest.skipUnless(is_root(), "spawn runs its commands as another user: needs root")
class SpawnTest(unittest.TestCase):
    def rcpt(self, rcpt):
        with smtplib.SMTP("127.0.0.1", INST.port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("s@client.test")
            code, msg = c.rcpt(rcpt)
            return code, msg.decode()

    def test_policy_server_started_by_spawn(self):
        code, msg = self.rcpt("greylist@elsewhere.example")
        self.assertEqual((code, msg), (450, "4.2.0 <greylist@elsewhere.example>: Recipient address rejected: "
                                            "Greylisted by the spawned policy"))
        nobody = (65534, 65534)
        code, msg = self.rcpt("whoami@elsewhere.example")
        self.assertEqual(code, 554)
        self.assertIn(f"policy runs as uid {nobody[0]} gid {nobody[1]}", msg)
        self.assertEqual(self.rcpt("anyone@elsewhere.example")[0], 250)
        # One command served all three requests over smtpd's kept connection.
        self.assertEqual(len([l for l in INST.maillog().splitlines() if "postern/spawn[" in l
                              and "warning" in l and "policy" in l]), 0)

    def test_command_gets_the_connection(self):
        out = read_all(connect("whoami")).decode()
        self.assertRegex(out, r"^uid=65534\(nobody\) gid=65534\(nogroup\) groups=65534\(nogroup\)\n$")

    def test_inet_service(self):
        s = socket.create_connection(("127.0.0.1", ECHO_PORT), timeout=20)
        s.sendall(b"hello from tcp\nnot echoed\n")
        self.assertEqual(read_all(s), b"hello from tcp\n")

    def test_command_keeps_no_descriptor_of_spawn(self):
        # 0, 1 and 2 (the connection) and the directory ls reads: not the
        # master's status pipe, nor the listening socket, nor the log.
        self.assertEqual(read_all(connect("fds")).decode().split(), ["0", "1", "2", "3"])

    def test_time_limit(self):
        t0 = time.monotonic()
        self.assertEqual(read_all(connect("slow")), b"")  # closed when the command is killed
        self.assertLess(time.monotonic() - t0, 15)
        INST.wait_log(r"postern/spawn\[\d+\]: warning: command /bin/sleep: process id \d+: "
                      r"command time limit exceeded")
        INST.wait_log(r"postern/spawn\[\d+\]: warning: command /bin/sleep killed by signal 9")

    def test_exit_status_and_exec_failure(self):
        read_all(connect("failing"))
        INST.wait_log(r"postern/spawn\[\d+\]: warning: command /bin/false exit status 1")
        read_all(connect("missing"))
        INST.wait_log(r'postern/spawn\[\d+\]: warning: cannot execute command "/nonexistent/command": '
                      r"No such file or directory")

    def test_bad_attributes_refused(self):
        # A connection makes the master start the service's process, which
        # refuses its attributes and exits; the master then throttles it.
        for service in ("badattr", "asroot"):
            connect(service).close()
        INST.wait_log(r"postern/spawn\[\d+\]: fatal: service badattr: unknown attribute name: flags=R")
        INST.wait_log(r"postern/spawn\[\d+\]: fatal: service asroot: request to run a command as root")


if __name__ == "__main__":
    unittest.main()
