"""postqueue -p/-j/-f/-i/-s and the showq service, on a queue of a few thousand messages.

The queue is written directly (queuegen.py: the documented file format,
named by inode like the writer does), so no qmgr or cleanup is needed and
messages stay where they are put. The master runs only showq; a Unix socket
the test owns stands in for public/qmgr to catch trigger requests.
"""
import grp
import json
import os
import pwd
import re
import socket
import subprocess
import threading
import time
import unittest

import ipcwire
import queuegen
from harness import Instance, LIBEXEC, SBIN, is_root

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"
MASTER_CF = HEADER + "showq unix n - n - - showq\n"


def mail_owner():
    for name in ("postern", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise unittest.SkipTest("no user for mail_owner")


class TriggerCatcher:
    """A stream socket at public/qmgr that records what each client writes."""

    def __init__(self, path):
        self.path = path
        self.received = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with c:
                c.settimeout(2)
                data = b""
                try:
                    while True:
                        b = c.recv(1024)
                        if not b:
                            break
                        data += b
                except OSError:
                    pass
                self.received.append(data.decode(errors="replace"))

    def wait(self, n=1, timeout=5):
        end = time.time() + timeout
        while time.time() < end and len(self.received) < n:
            time.sleep(0.02)
        return self.received

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@unittest.skipUnless(is_root(), "needs root (queue ownership, setpriv)")
@unittest.skipUnless(os.path.exists(os.path.join(LIBEXEC, "showq")), "showq not built")
class PostqueueTest(unittest.TestCase):
    COUNTS = {"incoming": 1000, "active": 300, "deferred": 1200, "hold": 500}

    @classmethod
    def setUpClass(cls):
        cls.owner = mail_owner()
        extra = (f"daemon_directory = {os.path.abspath(LIBEXEC)}\ncommand_directory = {os.path.abspath(SBIN)}\n"
                 f"mail_owner = {cls.owner.pw_name}\n")
        cls.inst = Instance("postqueue", main_cf_extra=extra, master_cf=MASTER_CF)
        try:
            cls.inst.start()
            cls.now = int(time.time())
            cls.ids = {q: [] for q in cls.COUNTS}
            q = cls.inst.queue
            uid, gid = cls.owner.pw_uid, cls.owner.pw_gid
            t0 = time.time()
            for queue, n in cls.COUNTS.items():
                for i in range(n):
                    dom = "example.net" if i % 2 == 0 else "example.org"
                    rcpts = [f"user{i}@{dom}", f"other{i}@example.com"]
                    qid = queuegen.write_message(q, queue, f"sender{i}@example.com", rcpts,
                                                 arrival=cls.now - 3600 - i, uid=uid, gid=gid,
                                                 done=(1,) if queue == "active" else ())
                    cls.ids[queue].append(qid)
                    if queue == "deferred" and i % 3 == 0:
                        queuegen.write_defer_log(q, qid, [(rcpts[0], "connect to mx.%s[192.0.2.1]:25: "
                                                           "Connection refused" % dom)], uid=uid, gid=gid)
            # One null-sender message and one still being written (no ready mark).
            cls.bounce_id = queuegen.write_message(q, "incoming", "", ["postmaster@example.com"],
                                                   arrival=cls.now, uid=uid, gid=gid)
            cls.unready_id = queuegen.write_message(q, "incoming", "x@example.com", ["y@example.com"],
                                                    uid=uid, gid=gid, ready=False)
            cls.total = sum(cls.COUNTS.values()) + 1
            cls.gen_seconds = time.time() - t0
        except BaseException:
            cls.inst.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    def postqueue(self, args, check=True, user=None, input=None):
        argv = [os.path.join(SBIN, "postqueue"), "-c", self.inst.dir] + list(args)
        if user is not None:
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"] + argv
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, input=input)
        if check:
            self.assertEqual(p.returncode, 0, p.stderr)
        return p

    # --- listings ---------------------------------------------------------
    def test_mailq_format(self):
        t0 = time.time()
        out = self.postqueue(["-p"]).stdout
        elapsed = time.time() - t0
        self.assertLess(elapsed, 30)
        lines = out.split("\n")
        self.assertEqual(lines[0], "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------")
        entries = [l for l in lines if re.match(r"^[0-9A-Za-z]+[*! ]? +\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d  ", l)]
        self.assertEqual(len(entries), self.total)
        self.assertNotIn(self.unready_id, out)
        # Status characters: * active, ! hold, nothing otherwise.
        for l in entries:
            qid = re.match(r"^([0-9A-Za-z]+)", l).group(1)
            mark = l[len(qid)]
            if qid in self.ids["active"]:
                self.assertEqual(mark, "*")
            elif qid in self.ids["hold"]:
                self.assertEqual(mark, "!")
            else:
                self.assertEqual(mark, " ")
        self.assertRegex(out, r"\n-- \d+ Kbytes in %d Requests\.\n$" % self.total)
        # One deferred message with a reason, exactly as Postfix lays it out.
        qid = self.ids["deferred"][0]
        arrival = time.asctime(time.localtime(self.now - 3600))[:20]
        reason = "(connect to mx.example.net[192.0.2.1]:25: Connection refused)"
        # No blank status character: Postfix pads the ID alone to 11 columns.
        block = (f"{qid:<11} {21:>7} {arrival} sender0@example.com\n"
                 f"{'':{max(0, 76 - len(reason) + 2)}}{reason}\n"
                 f"{'':41}user0@example.net\n"
                 f"{'':41}other0@example.com\n\n")
        self.assertIn(block, out)
        # Active messages list only pending recipients; the null sender is MAILER-DAEMON.
        aid = self.ids["active"][0]
        m = re.search(re.escape(aid) + r"\*.*\n((?: {41}.*\n)+)", out)
        self.assertEqual(m.group(1).strip(), "user0@example.net")
        self.assertRegex(out, re.escape(self.bounce_id) + r" +\d+ .{20} MAILER-DAEMON\n")

    def test_listing_for_users_comes_from_showq(self):
        # A user who cannot read the queue, with setgid_group as postqueue's
        # set-gid install gives it: only showq can have produced the listing.
        user = next((u for u in pwd.getpwall() if u.pw_uid not in (0, self.owner.pw_uid) and u.pw_uid < 65534), None)
        if user is None:
            self.skipTest("no unprivileged user")
        with open(self.inst.path("main.cf")) as f:
            group = re.findall(r"(?m)^setgid_group = (\S+)", f.read())[-1]
        gid = grp.getgrnam(group).gr_gid
        argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={gid}", "--clear-groups", "--",
                os.path.join(SBIN, "postqueue"), "-c", self.inst.dir, "-p"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if p.returncode != 0 and "Permission denied" in p.stderr and "postqueue:" not in p.stderr:
            self.skipTest("build tree not executable by other users")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, self.postqueue(["-p"]).stdout)

    def test_showq_protocol(self):
        path = os.path.join(self.inst.queue, "public", "showq")
        # A malformed or unexpected request is refused with a status reply.
        for msg_type, attrs in (("showq_request", [("extra", 1)]), ("cleanup_open", [])):
            with ipcwire.Connection(path) as c:
                t, a = c.call(msg_type, attrs)
                self.assertEqual(t, "status")
                self.assertEqual(a["status"], 2)
        # A good one streams every message, then showq_end with the totals.
        with ipcwire.Connection(path, timeout=60) as c:
            c.send_raw(ipcwire.frame(ipcwire.encode("showq_request", [])))
            n = 0
            while True:
                t, a = ipcwire.decode(c.read_frame())
                if t == "showq_end":
                    break
                self.assertEqual(t, "showq_entry")
                self.assertEqual(len(a["recipients"]), len(a["reasons"]))
                n += 1
            self.assertEqual(a["messages"], n)
            self.assertGreaterEqual(n, self.total)
            self.assertEqual(a["skipped"], 1)  # the file without the ready mark
        self.assertRegex(self.inst.maillog(), r"warning: showq: malformed request from")

    def test_json(self):
        out = self.postqueue(["-j"]).stdout
        objs = [json.loads(l) for l in out.splitlines()]
        self.assertEqual(len(objs), self.total)
        by_queue = {}
        for o in objs:
            self.assertEqual(list(o.keys()), ["queue_name", "queue_id", "arrival_time", "message_size",
                                              "forced_expire", "sender", "recipients"])
            by_queue[o["queue_name"]] = by_queue.get(o["queue_name"], 0) + 1
        self.assertEqual(by_queue, {"incoming": 1001, "active": 300, "deferred": 1200, "hold": 500})
        first = next(o for o in objs if o["queue_id"] == self.ids["deferred"][0])
        self.assertEqual(first["arrival_time"], self.now - 3600)
        self.assertEqual(first["sender"], "sender0@example.com")
        self.assertFalse(first["forced_expire"])
        self.assertEqual(first["recipients"][0], {
            "address": "user0@example.net",
            "delay_reason": "connect to mx.example.net[192.0.2.1]:25: Connection refused"})
        self.assertEqual(first["recipients"][1], {"address": "other0@example.com"})
        # Postfix's spacing, byte for byte.
        line = next(l for l in out.splitlines() if f'"queue_id": "{self.ids["deferred"][0]}"' in l)
        self.assertEqual(line, (
            '{"queue_name": "deferred", "queue_id": "%s", "arrival_time": %d, "message_size": 21, '
            '"forced_expire": false, "sender": "sender0@example.com", "recipients": [{"address": '
            '"user0@example.net", "delay_reason": "connect to mx.example.net[192.0.2.1]:25: Connection refused"}, '
            '{"address": "other0@example.com"}]}') % (self.ids["deferred"][0], self.now - 3600))
        # The null sender is $empty_address_recipient, as Postfix's showq gives it.
        bounce = next(o for o in objs if o["queue_id"] == self.bounce_id)
        self.assertEqual(bounce["sender"], "MAILER-DAEMON")

    def test_direct_listing_when_down_and_refusal_for_users(self):
        via_showq = self.postqueue(["-p"]).stdout
        self.inst.stop()
        try:
            direct = self.postqueue(["-p"]).stdout
            self.assertEqual(direct, via_showq)
            user = pwd.getpwnam("nobody")
            p = self.postqueue(["-p"], check=False, user=user)
            if "Permission denied" in p.stderr and "postqueue" not in p.stderr:
                self.skipTest("build tree not executable by nobody")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("Queue report unavailable - mail system is down", p.stderr)
            p = self.postqueue(["-f"], check=False)
            self.assertEqual(p.returncode, 69)
            self.assertIn("Cannot flush mail queue - mail system is down", p.stderr)
        finally:
            self.inst.start()

    # --- flushing -------------------------------------------------------------
    def catcher(self, service="qmgr"):
        path = os.path.join(self.inst.queue, "public", service)
        c = TriggerCatcher(path)
        self.addCleanup(c.close)
        return c

    def test_flush_sends_fadi(self):
        c = self.catcher()
        pickup = self.catcher("pickup")
        self.postqueue(["-f"])
        self.assertEqual(c.wait(1), ["FADI"])
        # The maildrop is flushed too, as with Postfix.
        self.assertEqual(pickup.wait(1), ["W"])

    def test_postern_flush_is_postqueue_f(self):
        c = self.catcher()
        pickup = self.catcher("pickup")
        p = self.inst.run(["flush"], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(c.wait(1), ["FADI"])
        self.assertEqual(pickup.wait(1), ["W"])

    def test_flush_one_message(self):
        c = self.catcher()
        qid = self.ids["deferred"][5]
        path = queuegen.find(self.inst.queue, "deferred", qid)
        os.utime(path, (self.now + 3600, self.now + 3600))
        self.assertFalse(os.stat(path).st_mode & 0o040)
        self.postqueue(["-i", qid])
        self.assertLessEqual(abs(os.stat(path).st_mtime - time.time()), 5)
        # Postfix's unthrottle mark (the group read bit): qmgr takes the
        # message as a flush of its own.
        self.assertTrue(os.stat(path).st_mode & 0o040)
        self.assertEqual(c.wait(1), ["D"])
        # Not deferred (on hold here): nothing to do, no error, as Postfix.
        held = queuegen.find(self.inst.queue, "hold", self.ids["hold"][0])
        before = os.stat(held).st_mtime
        p = self.postqueue(["-i", self.ids["hold"][0]], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertEqual(os.stat(held).st_mtime, before)
        p = self.postqueue(["-i", "../etc"], check=False)
        self.assertEqual(p.returncode, 64)

    def test_flush_site(self):
        c = self.catcher()
        future = self.now + 7200
        for qid in self.ids["deferred"][:20]:
            os.utime(queuegen.find(self.inst.queue, "deferred", qid), (future, future))
        self.postqueue(["-s", "Example.ORG"])
        # F first (forget dead destinations, ignore defer_transports in the
        # next scans), as Postfix's flush service, then the scan.
        self.assertEqual(c.wait(1), ["F", "D"])
        for i, qid in enumerate(self.ids["deferred"][:20]):
            mtime = os.stat(queuegen.find(self.inst.queue, "deferred", qid)).st_mtime
            if i % 2 == 1:  # example.org recipients
                self.assertLess(abs(mtime - time.time()), 5, qid)
            else:
                self.assertEqual(int(mtime), future, qid)

    def sendmail(self, args, program="sendmail", input=""):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        return subprocess.run([os.path.join(SBIN, program), "-C", self.inst.dir] + args, capture_output=True,
                              text=True, env=env, input=input, timeout=120)

    def test_sendmail_bp_mailq_and_q(self):
        want = self.postqueue(["-p"]).stdout
        for program, args in (("sendmail", ["-bp"]), ("mailq", [])):
            p = self.sendmail(args, program)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, want)
        c = self.catcher()
        p = self.sendmail(["-q"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(c.wait(1), ["FADI"])

    def test_sendmail_bs_reports_queue_id(self):
        dialogue = ("HELO client.example.com\r\nMAIL FROM:<bs@example.com>\r\nRCPT TO:<rcpt@example.net>\r\n"
                    "DATA\r\nSubject: bs\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        p = self.sendmail(["-bs"], input=dialogue)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.search(r"250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)\n", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        qid = m.group(1)
        # No pickup runs here: the message waits in maildrop, and is listed there.
        path = queuegen.find(self.inst.queue, "maildrop", qid)
        self.assertIsNotNone(path)
        self.addCleanup(os.unlink, path)
        objs = [json.loads(l) for l in self.postqueue(["-j"]).stdout.splitlines()]
        mine = [o for o in objs if o["queue_id"] == qid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["queue_name"], "maildrop")
        self.assertEqual(mine[0]["sender"], "bs@example.com")
        self.assertEqual(mine[0]["recipients"], [{"address": "rcpt@example.net"}])

    def test_usage(self):
        p = self.postqueue(["-p", "-f"], check=False)
        self.assertEqual(p.returncode, 64)
        p = self.postqueue([], check=False)
        self.assertEqual(p.returncode, 64)


if __name__ == "__main__":
    unittest.main()
