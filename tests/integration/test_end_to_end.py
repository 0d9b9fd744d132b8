"""End to end: smtpd -> cleanup -> qmgr -> smtp / local, with bounces, on one real instance.

Every daemon is the real one, started by the real master from master.cf. The
far side is tests/integration/sink.py on 127.0.0.1 (relayhost points at it);
local mail goes to a scratch user's Maildir when the test runs as root.
Checks are what an admin sees: the mail at its destination, the queue empty
afterwards, and Postfix-shaped log lines (status=sent/deferred/bounced,
client=, message-id=, from=<...>, removed).
"""
import email
import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import time
import unittest
import uuid

from harness import LIBEXEC, SBIN, Instance, free_port, wait_for
from sink import Sink

HOST = "mta.test"
USER = "pstrne2e"


def master_cf(port):
    # qmgr's wakeup is 5 s, not Postfix's 300: the master starts a killed
    # qmgr again on its next wakeup (or the next trigger), and the fault
    # test should not wait five minutes for that.
    return f"""# service type private unpriv chroot wakeup maxproc command
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 5 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
anvil unix - - n - 1 anvil
smtp unix - - n - - smtp
relay unix - - n - - smtp
local unix - n n - - local
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
"""


def main_cf_for(sink_port):
    """main.cf lines shared by the end-to-end and fault tests: relay to the
    sink, local mail to Maildir, quick retries."""
    return f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink_port}
home_mailbox = Maildir/
alias_maps =
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
"""


def smtp_up(port):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as s:
            s.noop()
        return True
    except OSError:
        return False


def queue_files(inst, *queues):
    found = []
    for q in queues:
        for dirpath, _, files in os.walk(os.path.join(inst.queue, q)):
            found += [os.path.join(dirpath, f) for f in files]
    return found


def send(port, sender, rcpts, body, subject="test", extra_headers=""):
    msg = (f"From: <{sender}>\r\nTo: <{rcpts[0]}>\r\nSubject: {subject}\r\n{extra_headers}\r\n{body}\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, rcpts, msg)


class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        cls.user = None
        if os.geteuid() == 0:
            subprocess.run(["userdel", "-r", USER], capture_output=True)
            subprocess.run(["useradd", "-m", "-d", f"/tmp/{USER}-home", USER], check=True)
            cls.user = pwd.getpwnam(USER)
        # HOLD for one sender (test_hold_then_release); nobody else matches.
        main_cf = main_cf_for(cls.sink.port) + (
            "smtpd_sender_restrictions = check_sender_access inline:{ {held@sender.test = HOLD} }\n"
            # test_error_retry_discard
            "transport_maps = inline:{ {err.test = error:5.1.2 no such domain},"
            " {later.test = retry:4.4.4 down for maintenance}, {trap.test = discard:spam trap} }\n" + (
            # test_automatic_bcc
            "sender_bcc_maps = inline:{ {bcc-me@sender.test = archive@remote.test},"
            " {bcc-bad@sender.test = bad-archive@remote.test} }\n"))
        cls.port = free_port()
        cls.inst = Instance("e2e", main_cf_extra=main_cf, master_cf=master_cf(cls.port))
        cls.inst.start()
        wait_for(lambda: smtp_up(cls.port), timeout=15, what="smtpd listening")

    @classmethod
    def tearDownClass(cls):
        try:
            if os.environ.get("E2E_KEEP_LOG"):
                shutil.copy(cls.inst.path("maillog"), os.environ["E2E_KEEP_LOG"])
            cls.inst.cleanup()
        finally:
            cls.sink.stop()
            if cls.user is not None:
                subprocess.run(["userdel", "-r", USER], capture_output=True)
                shutil.rmtree(f"/tmp/{USER}-home", ignore_errors=True)

    def setUp(self):
        self.sink.mode = "accept"

    def wait_queue_empty(self, timeout=30):
        wait_for(lambda: not queue_files(self.inst, "incoming", "active", "deferred"), timeout,
                 what="an empty queue")

    def test_relay_many(self):
        token = uuid.uuid4().hex
        before = self.sink.count()
        for i in range(20):
            send(self.port, "alice@sender.test", [f"r{i}@remote.test"], f"body {token} {i}")
        self.sink.wait_count(before + 20, timeout=60)
        got = [m for m in self.sink.messages if token.encode() in m[2]]
        self.assertEqual(len(got), 20)
        for mail_from, rcpts, data in got:
            self.assertEqual(mail_from, "alice@sender.test")
            self.assertEqual(len(rcpts), 1)
            self.assertIn(b"Received: from ", data)
            self.assertIn(b"Message-ID: ", data.replace(b"Message-Id", b"Message-ID"))
        self.wait_queue_empty()
        log = self.inst.maillog()
        sent = re.findall(r"([0-9A-Za-z]+): to=<r\d+@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, "
                          r"delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.0\.0, status=sent \(250 ",
                          log)
        self.assertGreaterEqual(len(sent), 20, log[-3000:])
        qid = sent[-1]
        self.assertRegex(log, rf"{qid}: client=localhost\[127\.0\.0\.1\]|{qid}: client=\S+\[127\.0\.0\.1\]")
        self.assertRegex(log, rf"{qid}: message-id=<")
        self.assertRegex(log, rf"{qid}: from=<alice@sender\.test>, size=\d+, nrcpt=1 \(queue active\)")
        self.assertRegex(log, rf"{qid}: removed")

    def test_automatic_bcc(self):
        token = uuid.uuid4().hex
        send(self.port, "bcc-me@sender.test", ["x@remote.test"], f"body {token}")
        def rcpts():
            return {r for m in list(self.sink.messages) if token.encode() in m[2] for r in m[1]}
        wait_for(lambda: rcpts() == {"x@remote.test", "archive@remote.test"}, timeout=30,
                 what="the message and its copy at the sink")
        # The copy has NOTIFY=NEVER: its failure tells the sender nothing.
        send(self.port, "bcc-bad@sender.test", ["y@remote.test"], f"body {token} bad")
        self.inst.wait_log(r"to=<bad-archive@remote\.test>, relay=127\.0\.0\.1.*status=bounced", timeout=30)
        self.wait_queue_empty()
        self.assertFalse(any("bcc-bad@sender.test" in m[1] for m in list(self.sink.messages)))

    def test_deferred_then_delivered(self):
        token = uuid.uuid4().hex
        self.sink.down()
        try:
            send(self.port, "bob@sender.test", ["later@remote.test"], f"body {token}")
            self.inst.wait_log(r"to=<later@remote\.test>, relay=none, .*status=deferred", timeout=30)
            self.assertTrue(queue_files(self.inst, "deferred", "active"))
        finally:
            self.sink.up()
        wait_for(lambda: any(token.encode() in m[2] for m in self.sink.messages), timeout=60,
                 what="the deferred message at the sink")
        self.wait_queue_empty()
        self.inst.wait_log(r"to=<later@remote\.test>, relay=127\.0\.0\.1.*status=sent")

    def test_bounce_reaches_sender(self):
        token = uuid.uuid4().hex
        send(self.port, "carol@sender.test", ["bad-user@remote.test"], f"body {token}",
             subject=f"doomed {token}")
        self.inst.wait_log(r"to=<bad-user@remote\.test>, relay=127\.0\.0\.1.*dsn=5\.1\.1, status=bounced", timeout=30)

        def bounce():
            for mail_from, rcpts, data in self.sink.messages:
                if mail_from == "" and rcpts == ["carol@sender.test"] and token.encode() in data:
                    return data
            return None

        data = wait_for(bounce, timeout=30, what="the non-delivery notification at the sink")
        msg = email.message_from_bytes(data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        parts = [p.get_content_type() for p in msg.walk()]
        self.assertIn("message/delivery-status", parts)
        self.assertIn(b"Final-Recipient: rfc822; bad-user@remote.test", data)
        self.assertIn(b"Status: 5.1.1", data)
        self.wait_queue_empty()

    @unittest.skipUnless(os.geteuid() == 0, "postsuper is for the superuser")
    def test_hold_then_release(self):
        """An access table HOLD parks the message in hold/, where qmgr never
        looks; postqueue shows it with "!", and postsuper -H sends it on."""
        token = uuid.uuid4().hex
        send(self.port, "held@sender.test", ["kept@remote.test"], f"body {token}")
        self.inst.wait_log(r": hold: RCPT from \S+: <held@sender\.test>: Sender address triggers HOLD action; "
                           r"from=<held@sender\.test> to=<kept@remote\.test>")
        held = wait_for(lambda: queue_files(self.inst, "hold"), timeout=10, what="the held queue file")
        qid = os.path.basename(held[0])
        time.sleep(3)  # several queue runs (queue_run_delay = 1s)
        self.assertFalse(any(token.encode() in m[2] for m in self.sink.messages))
        self.assertRegex(self.inst.cmd("postqueue", ["-p"]).stdout, rf"(?m)^{qid}!")
        self.inst.cmd("postsuper", ["-H", qid])
        wait_for(lambda: any(token.encode() in m[2] for m in self.sink.messages), timeout=30,
                 what="the released message at the sink")
        self.inst.wait_log(rf"{qid}: to=<kept@remote\.test>, relay=127\.0\.0\.1.*status=sent")
        self.assertFalse(queue_files(self.inst, "hold"))

    def test_error_retry_discard(self):
        """transport_maps routes to the error, retry and discard agents: the
        next hop is the reason, logged per recipient with relay=none; the
        error bounces (the sender gets a DSN), retry defers, discard is
        delivery."""
        token = uuid.uuid4().hex
        # smtpd refuses what resolves to the error transport at RCPT time
        # (Postfix's reject_unlisted_recipient); sendmail mail reaches the
        # error agent, which bounces it.
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            send(self.port, "erin@sender.test", ["x@err.test"], f"body {token}")
        self.assertEqual(cm.exception.recipients["x@err.test"],
                         (550, b"5.1.2 <x@err.test>: Recipient address rejected: no such domain"))
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", self.inst.dir, "-f", "erin@sender.test",
                            "x@err.test"], input=f"Subject: err {token}\n\nbody {token}\n", capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        send(self.port, "erin@sender.test", ["y@trap.test"], f"body {token}")
        send(self.port, "erin@sender.test", ["z@later.test"], f"body {token}")
        self.inst.wait_log(r"to=<x@err\.test>, relay=none, delay=[0-9.]+, delays=[0-9./]+, dsn=5\.1\.2, "
                           r"status=bounced \(no such domain\)", timeout=30)
        self.inst.wait_log(r"to=<y@trap\.test>, relay=none, .*dsn=2\.0\.0, status=sent \(spam trap\)", timeout=30)
        m = self.inst.wait_log(r"(\w+): to=<z@later\.test>, relay=none, .*dsn=4\.4\.4, "
                               r"status=deferred \(down for maintenance\)", timeout=30)
        qid = m.group(1)

        def dsn_at_sink():
            return any(mail_from == "" and rcpts == ["erin@sender.test"] and token.encode() in data
                       and b"Status: 5.1.2" in data for mail_from, rcpts, data in self.sink.messages)
        wait_for(dsn_at_sink, timeout=30, what="the bounce for x@err.test at the sink")
        self.assertFalse(any(token.encode() in data and rcpts != ["erin@sender.test"]
                             for _, rcpts, data in self.sink.messages))
        # The retried message stays queued; take it away for the other tests.
        self.assertTrue(any(qid in f for f in queue_files(self.inst, "deferred", "active", "incoming")))
        if os.geteuid() == 0:
            self.inst.cmd("postsuper", ["-d", qid])
        else:
            self.skipTest("postsuper -d needs root to clean up")

    @unittest.skipUnless(os.geteuid() == 0, "local delivery to a real user needs root")
    def test_utf8_local_part_without_smtputf8(self):
        # Postfix's default (strict_smtputf8 = no): taken without SMTPUTF8,
        # relayed as it came (no SMTPUTF8 asked of the next hop) and
        # delivered to a mailbox.
        token = uuid.uuid4().hex
        sender = "j\u00f6rg@sender.test"
        before = self.sink.count()
        commands = ["EHLO client.test", f"MAIL FROM:<{sender}>", "RCPT TO:<r@remote.test>"]
        if self.user is not None:
            commands.append(f"RCPT TO:<{USER}@{HOST}>")
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as c:
            f = c.makefile("rb")

            def reply():
                while True:
                    r = f.readline().decode()
                    if r[3:4] != "-":
                        return r

            self.assertTrue(reply().startswith("220"))
            for line in commands:
                c.sendall(line.encode() + b"\r\n")
                r = reply()
                self.assertTrue(r.startswith("250"), f"{line}: {r}")
            c.sendall(b"DATA\r\n")
            self.assertTrue(reply().startswith("354"))
            c.sendall(f"Subject: utf8\r\n\r\nbody {token}\r\n.\r\n".encode())
            self.assertTrue(reply().startswith("250"))
            c.sendall(b"QUIT\r\n")
        self.sink.wait_count(before + 1, timeout=60)
        got = [m for m in self.sink.messages if token.encode() in m[2]]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][0], sender)
        if self.user is not None:
            self.inst.wait_log(rf"to=<{USER}@{HOST}>, relay=local, .*status=sent \(delivered to maildir\)")
        self.wait_queue_empty()

    def test_local_maildir(self):
        token = uuid.uuid4().hex
        send(self.port, "dave@sender.test", [f"{USER}@{HOST}"], f"body {token}")
        new = os.path.join(self.user.pw_dir, "Maildir", "new")

        def delivered():
            if not os.path.isdir(new):
                return None
            for f in os.listdir(new):
                with open(os.path.join(new, f), "rb") as fh:
                    data = fh.read()
                if token.encode() in data:
                    return os.path.join(new, f)
            return None

        path = wait_for(delivered, timeout=30, what="the message in the Maildir")
        self.assertEqual(os.stat(path).st_uid, self.user.pw_uid)
        with open(path, "rb") as f:
            data = f.read()
        self.assertIn(f"Delivered-To: {USER}@{HOST}".encode(), data)
        self.inst.wait_log(rf"to=<{USER}@{HOST}>, relay=local, .*status=sent \(delivered to maildir\)")
        self.wait_queue_empty()


@unittest.skipUnless(os.geteuid() == 0, "local delivery to a scratch user needs root")
class LocalLanes(unittest.TestCase):
    """qmgr keeps a request waiting at the local agent behind the one it
    delivers (qmgr.cpp, deliver()). With local retiring after every second
    delivery, requests sent behind a closing reply are common: each message
    must still be delivered exactly once."""

    def setUp(self):
        self.sink = Sink()
        self.addCleanup(self.sink.stop)
        subprocess.run(["userdel", "-r", USER], capture_output=True)
        subprocess.run(["useradd", "-m", "-d", f"/tmp/{USER}-home", USER], check=True)
        self.addCleanup(shutil.rmtree, f"/tmp/{USER}-home", ignore_errors=True)
        self.addCleanup(subprocess.run, ["userdel", "-r", USER], capture_output=True)
        self.port = free_port()
        cf = master_cf(self.port).replace("local unix - n n - - local\n", "local unix - n n - - local -o max_use=2\n")
        self.assertIn("max_use=2", cf)
        self.inst = Instance("lanes", main_cf_extra=main_cf_for(self.sink.port), master_cf=cf)
        self.addCleanup(self.inst.cleanup)
        self.inst.start()
        wait_for(lambda: smtp_up(self.port), timeout=15, what="smtpd listening")

    def test_retiring_agent_loses_and_repeats_nothing(self):
        n = 40
        tokens = [uuid.uuid4().hex for _ in range(n)]
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            for t in tokens:
                s.sendmail("dave@sender.test", [f"{USER}@{HOST}"],
                           f"From: <dave@sender.test>\r\nSubject: lane\r\n\r\nbody {t}\r\n")
        new = os.path.join(f"/tmp/{USER}-home", "Maildir", "new")

        def found():
            if not os.path.isdir(new):
                return []
            out = []
            for f in os.listdir(new):
                with open(os.path.join(new, f), "rb") as fh:
                    out += re.findall(rb"body ([0-9a-f]{32})", fh.read())
            return out

        wait_for(lambda: len(found()) >= n and not queue_files(self.inst, "incoming", "active", "deferred"),
                 timeout=60, what=f"{n} messages in the Maildir and an empty queue")
        self.assertEqual(sorted(found()), sorted(t.encode() for t in tokens))
        log = self.inst.maillog()
        pids = re.findall(r"postern/local\[(\d+)\]: \w+: to=<.*status=sent", log)
        self.assertEqual(len(pids), n)
        self.assertGreaterEqual(len(set(pids)), n // 2)  # the agents did retire
        self.assertNotRegex(log, r"status=deferred|qmgr\[\d+\]: warning")


if __name__ == "__main__":
    unittest.main()
