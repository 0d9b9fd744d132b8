"""The bounce, defer and trace services end to end.

A scratch instance runs pickup, cleanup, trivial-rewrite and the bounce
program behind private/bounce, private/defer and private/trace (no qmgr, so
queue files stay in incoming/). Each test submits a real message with the
real sendmail command, then plays qmgr's part over the wire (ipcwire.py,
written from docs/ipc.md): append status entries, flush or warn, and checks
what a user would get: a new queue file from <> to the sender, read back with
postcat, holding an RFC 3464 report; plus the log lines and the status logs.
"""
import os
import re
import struct
import subprocess
import time
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, SBIN, Instance, wait_for
from ipcwire import Connection, decode, encode, frame

MASTER_CF = """# service type private unpriv chroot wakeup maxproc command
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
"""

MAIN_CF = """
myhostname = mail.example.test
mydomain = example.test
myorigin = example.test
bounce_size_limit = 3000
virtual_alias_maps = inline:{ {team@example.test = lee@example.test, mo@example.test} }
"""


def rcpt(addr, notify=None, orcpt=None):
    """queue::encode_recipient(): tagged, length-prefixed fields."""
    out = f"a{len(addr.encode())}:{addr}"
    if orcpt is not None:
        out += f"o{len(orcpt.encode())}:{orcpt}"
    if notify is not None:
        out += f"n{len(str(notify))}:{notify}"
    return out


class _Base:
    """The instance and the helpers; the test classes add main.cf lines (EXTRA)."""
    EXTRA = ""

    @classmethod
    def setUpClass(cls):
        extra = f"daemon_directory = {os.path.abspath(LIBEXEC)}\ncommand_directory = {os.path.abspath(SBIN)}\n"
        cls.inst = Instance("bounce", main_cf_extra=extra + NO_QMGR_FLOW + MAIN_CF + cls.EXTRA, master_cf=MASTER_CF)
        # test_rejected_submission_goes_back_to_the_sender
        hc = cls.inst.path("header_checks")
        with open(hc, "w") as f:
            f.write("/^Subject: refuse me/ REJECT 5.7.1 refused by policy\n")
        with open(cls.inst.path("main.cf"), "a") as f:
            f.write(f"header_checks = regexp:{hc}\n")
        try:
            cls.inst.start()
            for s in ("bounce", "defer", "trace"):
                wait_for(lambda s=s: os.path.exists(cls.sock(s)), what=f"private/{s}")
        except Exception:
            cls.inst.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    @classmethod
    def sock(cls, service):
        return os.path.join(cls.inst.queue, "private", service)

    # --- helpers -------------------------------------------------------
    def sendmail(self, args, text):
        """Submits `text` with this instance's sendmail, which must succeed."""
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", self.inst.dir] + args, input=text,
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def submit(self, sender, recipient, body="hello\n", args=(), subject="test message"):
        """Submits with sendmail; returns the queue ID once the file is complete."""
        before = len(re.findall(r"pickup\[\d+\]: \w+: uid=", self.inst.maillog()))
        msg = f"From: {sender or 'nobody'}\nTo: {recipient}\nSubject: {subject}\n\n{body}"
        self.sendmail(["-f", sender] + list(args) + [recipient], msg)

        def nth():
            ids = re.findall(r"pickup\[\d+\]: (\w+): uid=\d+ from=<", self.inst.maillog())
            return ids[before] if len(ids) > before else None

        qid = wait_for(nth, timeout=30, what="pickup log line")
        wait_for(lambda: self.ready(qid), timeout=30, what=f"complete queue file {qid}")
        return qid

    def ready(self, qid):
        path = os.path.join(self.inst.queue, "incoming", qid)
        try:
            return bool(os.stat(path).st_mode & 0o100)
        except FileNotFoundError:
            return False

    def call(self, conn, attrs):
        # Every attribute of bounce_request is required (empty when unused).
        full = dict(op="", queue_name="", queue_id="", recipients=[], dsn=[], text=[], relay=[], action="")
        full.update(dict(attrs))
        t, a = conn.call("bounce_request", list(full.items()))
        self.assertEqual(t, "status")
        return a["status"], a.get("reason", "")

    def append(self, conn, qid, recipients, dsn, text, relay, action):
        n = len(recipients)
        return self.call(conn, [("op", "append"), ("queue_id", qid), ("recipients", recipients),
                                ("dsn", [dsn] * n), ("text", [text] * n), ("relay", [relay] * n),
                                ("action", action)])

    def op(self, conn, op, qid, queue_name="incoming"):
        attrs = [("op", op), ("queue_id", qid)]
        if op in ("flush", "warn"):
            attrs.append(("queue_name", queue_name))
        return self.call(conn, attrs)

    def notice(self, qid, what):
        m = self.inst.wait_log(rf"postern/bounce\[\d+\]: {qid}: (\w+) {what}: (\w+)")
        new = m.group(2)
        wait_for(lambda: self.ready(new), timeout=30, what=f"notice {new}")
        return m.group(1), new, self.inst.cmd("postcat", ["-q", new]).stdout

    def report_part(self, text):
        start = text.index("Content-Type: message/delivery-status")
        return text[start:text.index("\n--", start)]



class BounceTest(_Base, unittest.TestCase):
    # --- tests ---------------------------------------------------------
    def test_append_then_flush_sends_non_delivery_notice(self):
        qid = self.submit("alice@example.test", "bob@remote.test", body="secret body line\n",
                          subject="the original")
        log = os.path.join(self.inst.queue, "bounce", qid)
        with Connection(self.sock("bounce")) as c:  # one connection, several requests
            st = self.append(c, qid, [rcpt("bob@remote.test", orcpt="rfc822;Bob+40Remote.test")], "5.1.1",
                             "host mx.remote.test[192.0.2.1] said: 550 5.1.1 no such user (in reply to RCPT TO"
                             " command)", "mx.remote.test[192.0.2.1]:25", "failed")
            self.assertEqual(st, (0, ""))
            with open(log) as f:
                self.assertIn("recipient=bob@remote.test\n", f.read())
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        who, new, text = self.notice(qid, "non-delivery notification")
        self.assertEqual(who, "sender")
        self.assertFalse(os.path.exists(log))
        self.assertRegex(text, r"(?m)^sender: $")
        self.assertRegex(text, r"(?m)^recipient: alice@example.test$")
        for want in ("From: MAILER-DAEMON@mail.example.test (Mail Delivery System)",
                     "Subject: Undelivered Mail Returned to Sender", "Auto-Submitted: auto-replied",
                     "Content-Type: multipart/report; report-type=delivery-status;",
                     "This is the mail system at host mail.example.test.",
                     "<bob@remote.test>: host mx.remote.test[192.0.2.1] said: 550 5.1.1 no such user",
                     "Content-Type: message/rfc822", "Subject: the original", "secret body line"):
            self.assertIn(want, text)
        self.assertRegex(text, r"(?m)^To: alice@example.test$")
        self.assertRegex(text, r"(?m)^Message-ID: <\d{14}\." + new + r"@mail.example.test>$")
        report = self.report_part(text)
        for want in ("Reporting-MTA: dns; mail.example.test", f"X-Postern-Queue-ID: {qid}",
                     "X-Postern-Sender: rfc822; alice@example.test", "Arrival-Date: ",
                     "Final-Recipient: rfc822; bob@remote.test", "Original-Recipient: rfc822; Bob@Remote.test",
                     "Action: failed", "Status: 5.1.1", "Remote-MTA: dns; mx.remote.test",
                     "Diagnostic-Code: smtp; 550 5.1.1 no such user", "Last-Attempt-Date: "):
            self.assertIn(want, report)
        # The whole message comes back unless the sender asked for its header
        # only (DSN RET=HDRS), as in Postfix; with notify_classes at its
        # default no postmaster copy goes out.
        self.assertNotRegex(self.inst.maillog(), rf"{qid}: postmaster ")
        qid = self.submit("alice@example.test", "bob@remote.test", body="another secret\n", args=["-R", "hdrs"])
        with Connection(self.sock("bounce")) as c:
            self.append(c, qid, [rcpt("bob@remote.test")], "5.1.1", "no such user", "none", "failed")
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        _, _, text = self.notice(qid, "non-delivery notification")
        self.assertIn("Content-Type: text/rfc822-headers", text)
        self.assertNotIn("another secret", text)

    def refused_submission_notice(self, sender, reply):
        """(maildrop ID, notice text) of the non-delivery notice sent to
        `sender` for a submission cleanup refused with `reply` (a regex)."""
        m = self.inst.wait_log(rf"postern/pickup\[\d+\]: maildrop/(\w+): uid=\d+ from=<{re.escape(sender)}>: "
                               rf"rejected by cleanup: {reply}", timeout=30)
        mid = m.group(1)
        who, _, text = self.notice(mid, "non-delivery notification")
        self.assertEqual(who, "sender")
        self.assertRegex(text, rf"(?m)^recipient: {re.escape(sender)}$")
        return mid, text

    def assert_nothing_left(self, mid):
        for q in ("maildrop", "corrupt", "bounce"):
            self.assertFalse(os.path.exists(os.path.join(self.inst.queue, q, mid)), q)

    def test_rejected_submission_goes_back_to_the_sender(self):
        # Postfix's pickup asks cleanup to bounce what it refuses: the user
        # learns why, and nothing stays behind in maildrop/ or corrupt/.
        self.sendmail(["-f", "carol@example.test", "dave@remote.test"],
                      "Subject: refuse me\nTo: dave@remote.test\n\nrefused body\n")
        mid, text = self.refused_submission_notice("carol@example.test", r"550 5\.7\.1 refused by policy")
        self.assertIn("<dave@remote.test>: refused by policy", text)
        report = self.report_part(text)
        for want in ("Final-Recipient: rfc822; dave@remote.test", "Action: failed", "Status: 5.7.1"):
            self.assertIn(want, report)
        self.assertIn("Subject: refuse me", text)
        self.assert_nothing_left(mid)

    def test_sendmail_t_without_recipients_is_returned_too(self):
        # A maildrop file that asks for extraction and whose header names no
        # recipient (sendmail itself now refuses those, as Postfix's does;
        # another program may still write one through postdrop): cleanup
        # finds no recipient and refuses, yet the sender is told (recipient
        # "unknown", as Postfix's cleanup reports it).
        def rec(t, payload=b""):
            return t + struct.pack(">I", len(payload)) + payload
        stream = (rec(b"S", b"grace@example.test") + rec(b"A", b"extract_recipients=yes") + rec(b"M") +
                  rec(b"N", b"Subject: nobody to send to") + rec(b"N") + rec(b"N", b"lonely body") + rec(b"E"))
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run([os.path.join(SBIN, "postdrop"), "-c", self.inst.dir], input=stream,
                           capture_output=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        mid, text = self.refused_submission_notice("grace@example.test", r"5\d\d ")
        self.assertIn("Final-Recipient: rfc822; unknown", self.report_part(text))
        self.assertIn("Subject: nobody to send to", text)
        self.assert_nothing_left(mid)

    def test_message_larger_than_bounce_size_limit_comes_back_as_its_header(self):
        # Postfix 2.5 and later: never a message/rfc822 part cut in the
        # middle (its MIME structure would not close), but the whole header.
        body = "first body line\n" + "".join(f"filler line {i:05d} .........................\n"
                                             for i in range(500)) + "LAST LINE\n"
        qid = self.submit("carol@example.test", "dave@remote.test", body=body, subject="big one",
                          args=["-R", "full", "-V", "env+id1"])
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("dave@remote.test")], "5.2.2", "mailbox full", "none",
                                         "failed")[0], 0)
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        _, new, text = self.notice(qid, "non-delivery notification")
        self.assertIn("Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers", text)
        self.assertNotIn("Content-Type: message/rfc822", text)
        self.assertIn("Subject: big one", text)
        self.assertNotIn("first body line", text)
        self.assertNotIn("shortened", text)
        self.assertIn("Original-Envelope-Id: env+2Bid1", text)
        self.assertIn("Diagnostic-Code: X-Postern; mailbox full", text)
        self.assertLess(len(text), 12000)

    def test_defer_warn_sends_delay_notice_and_keeps_log(self):
        qid = self.submit("erin@example.test", "frank@remote.test")
        # defer is hashed by default (hash_queue_names = deferred, defer).
        log = os.path.join(self.inst.queue, "defer", qid[0], qid)
        with Connection(self.sock("defer")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("frank@remote.test"), rcpt("never@remote.test", notify=1)],
                                         "4.4.1", "connect to mx.remote.test[192.0.2.1]:25: Connection refused",
                                         "none", "delayed")[0], 0)
            self.assertTrue(os.path.exists(log))
            self.assertEqual(self.op(c, "warn", qid)[0], 0)
            self.assertEqual(self.op(c, "flush", qid)[0], 2)  # defer never flushes
        _, new, text = self.notice(qid, "delay notification")
        self.assertTrue(os.path.exists(log))
        self.assertIn("Subject: Delayed Mail (still being retried)", text)
        report = self.report_part(text)
        self.assertIn("Final-Recipient: rfc822; frank@remote.test", report)
        self.assertIn("Action: delayed", report)
        self.assertIn("Will-Retry-Until: ", report)
        self.assertNotIn("never@remote.test", report)  # NOTIFY=NEVER
        with Connection(self.sock("defer")) as c:
            self.assertEqual(self.op(c, "remove", qid)[0], 0)
            self.assertEqual(self.op(c, "remove", qid)[0], 0)  # already gone: fine
        self.assertFalse(os.path.exists(log))

    def test_trace_flush_reports_only_notify_success(self):
        qid = self.submit("gina@example.test", "hank@example.test", args=["-N", "success,failure"])
        with Connection(self.sock("trace")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("hank@example.test", notify=6), rcpt("ivy@example.test")],
                                         "2.0.0", "delivered to mailbox", "local", "delivered")[0], 0)
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        _, new, text = self.notice(qid, "delivery status notification")
        self.assertIn("Subject: Successful Mail Delivery Report", text)
        report = self.report_part(text)
        self.assertIn("Final-Recipient: rfc822; hank@example.test", report)
        self.assertIn("Action: delivered", report)
        self.assertIn("Status: 2.0.0", report)
        self.assertNotIn("ivy@example.test", report)
        self.assertFalse(os.path.exists(os.path.join(self.inst.queue, "trace", qid)))

    def test_virtual_alias_expansion_leaves_one_expanded_entry(self):
        """cleanup writes one "expanded" trace entry for a NOTIFY=SUCCESS
        recipient that virtual_alias_maps expands, before it accepts the
        message (Postfix's cleanup_out_recipient); the members lose SUCCESS.
        qmgr's flush (played here) sends the notice."""
        qid = self.submit("kim@example.test", "team@example.test", args=["-N", "success"])
        self.assertTrue(os.path.exists(os.path.join(self.inst.queue, "trace", qid)))
        text = self.inst.cmd("postcat", ["-q", qid]).stdout
        for member in ("lee@example.test", "mo@example.test"):
            self.assertIn(f"recipient: {member}", text)
        self.assertIn("dsn_notify_flags: NEVER", text)
        self.assertNotIn("SUCCESS", text)
        with Connection(self.sock("trace")) as c:
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        _, new, text = self.notice(qid, "delivery status notification")
        report = self.report_part(text)
        self.assertIn("Final-Recipient: rfc822; team@example.test", report)
        self.assertIn("Action: expanded", report)
        self.assertNotIn("lee@example.test", report)

    def test_bounce_of_null_sender_is_dropped_by_default(self):
        # notify_classes has neither bounce nor 2bounce (Postfix's default):
        # an undeliverable notice is dropped, and its log with it.
        qid = self.submit("", "jack@remote.test")
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("jack@remote.test")], "5.1.1", "no such user", "none",
                                         "failed")[0], 0)
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        self.assertFalse(os.path.exists(os.path.join(self.inst.queue, "bounce", qid)))
        self.assertNotRegex(self.inst.maillog(), rf"{qid}: \w+ non-delivery notification")

    def test_notify_never_sends_nothing_and_removes_log(self):
        qid = self.submit("kim@example.test", "lee@remote.test", args=["-N", "never"])
        log = os.path.join(self.inst.queue, "bounce", qid)
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("lee@remote.test", notify=1)], "5.1.1", "no such user",
                                         "none", "failed")[0], 0)
            self.assertTrue(os.path.exists(log))
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        self.assertFalse(os.path.exists(log))
        self.assertNotRegex(self.inst.maillog(), rf"{qid}: \w+ non-delivery notification")

    def test_cleanup_unreachable_is_retry_and_keeps_log(self):
        qid = self.submit("max@example.test", "ned@remote.test")
        log = os.path.join(self.inst.queue, "bounce", qid)
        public = os.path.join(self.inst.queue, "public", "cleanup")
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("ned@remote.test")], "5.1.1", "x", "none", "failed")[0], 0)
            os.rename(public, public + ".away")
            try:
                self.assertEqual(self.op(c, "flush", qid)[0], 1)
            finally:
                os.rename(public + ".away", public)
            self.assertTrue(os.path.exists(log))
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        self.notice(qid, "non-delivery notification")

    def test_bad_requests_are_refused_and_service_survives(self):
        qid = self.submit("olga@example.test", "pat@remote.test")
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.op(c, "remove", "../etc")[0], 2)
            self.assertEqual(self.op(c, "warn", qid)[0], 2)  # bounce does not warn
            self.assertEqual(self.op(c, "flush", qid, queue_name="corrupt")[0], 2)
            self.assertEqual(self.op(c, "flush", qid, queue_name="../x")[0], 2)
            # The original is not where qmgr said: refused, log kept.
            self.assertEqual(self.append(c, qid, [rcpt("pat@remote.test")], "5.1.1", "x", "none", "failed")[0], 0)
            self.assertEqual(self.op(c, "flush", qid, queue_name="deferred")[0], 2)
            self.assertTrue(os.path.exists(os.path.join(self.inst.queue, "bounce", qid)))
            self.assertEqual(self.op(c, "remove", qid)[0], 0)
        pids = self.inst.service_pids("bounce")
        for attrs in ([("op", "append"), ("queue_id", qid), ("recipients", [rcpt("a@b")]), ("dsn", ["5.0.0"]),
                       ("text", ["x"]), ("relay", []), ("action", "failed")],           # lists differ
                      [("op", "append"), ("queue_id", qid), ("recipients", ["junk"]), ("dsn", ["5.0.0"]),
                       ("text", ["x"]), ("relay", ["none"]), ("action", "failed")],     # bad recipient
                      [("op", "append"), ("queue_id", qid), ("recipients", [rcpt("a@b")]), ("dsn", ["5.0.0"]),
                       ("text", ["x\r\nrecipient=forged"]), ("relay", ["none"]), ("action", "failed")],
                      [("op", "explode"), ("queue_id", qid)],
                      [("op", "remove")]):
            with Connection(self.sock("bounce")) as c:
                self.assertEqual(self.call(c, attrs)[0], 2, attrs)
        for msg_type, attrs in (("cleanup_open", [("flags", 0)]),                   # not our message
                                ("bounce_request", [("op", "remove"), ("queue_id", qid)])):  # attributes missing
            with Connection(self.sock("bounce")) as c:
                c.send_raw(frame(encode(msg_type, attrs)))
                t, a = decode(c.read_frame())
                self.assertEqual((t, a["status"]), ("status", 2))
        self.assertFalse(os.path.exists(os.path.join(self.inst.queue, "bounce", qid)))
        # Same process still serving.
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.op(c, "remove", qid)[0], 0)
        self.assertTrue(pids)
        self.assertTrue(pids & self.inst.service_pids("bounce"))


class PostmasterNoticeTest(_Base, unittest.TestCase):
    EXTRA = "notify_classes = bounce, 2bounce, delay, resource, software\n"

    def test_postmaster_copy_of_a_bounce_has_the_header_only(self):
        qid = self.submit("mia@example.test", "ned@remote.test", body="private body\n", subject="copied",
                          args=["-N", "never"])
        with Connection(self.sock("bounce")) as c:
            self.append(c, qid, [rcpt("ned@remote.test", notify=1)], "5.1.1", "no such user", "none", "failed")
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        # NOTIFY=NEVER keeps the sender's notice away, not the postmaster's copy.
        who, new, text = self.notice(qid, "non-delivery notification")
        self.assertEqual(who, "postmaster")
        self.assertNotRegex(self.inst.maillog(), rf"{qid}: sender non-delivery notification")
        self.assertRegex(text, r"(?m)^sender: double-bounce@example.test$")
        self.assertRegex(text, r"(?m)^recipient: postmaster(@example.test)?$")
        for want in ("Subject: Postmaster Copy: Undelivered Mail", "Final-Recipient: rfc822; ned@remote.test",
                     "Content-Type: text/rfc822-headers", "Subject: copied"):
            self.assertIn(want, text)
        self.assertNotIn("private body", text)
        self.assertNotIn("Your message could not be delivered", text)

    def test_sender_notice_and_copy(self):
        qid = self.submit("ola@example.test", "pat@remote.test")
        with Connection(self.sock("bounce")) as c:
            self.append(c, qid, [rcpt("pat@remote.test")], "5.1.1", "no such user", "none", "failed")
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        self.inst.wait_log(rf"{qid}: sender non-delivery notification: \w+")
        self.inst.wait_log(rf"{qid}: postmaster non-delivery notification: \w+")

    def test_delay_copy(self):
        qid = self.submit("quin@example.test", "rob@remote.test")
        with Connection(self.sock("defer")) as c:
            self.append(c, qid, [rcpt("rob@remote.test")], "4.4.1", "connection timed out", "none", "delayed")
            self.assertEqual(self.op(c, "warn", qid)[0], 0)
        self.inst.wait_log(rf"{qid}: sender delay notification: \w+")
        m = self.inst.wait_log(rf"{qid}: postmaster delay notification: (\w+)")
        new = m.group(1)
        wait_for(lambda: self.ready(new), timeout=30, what=f"notice {new}")
        self.assertIn("Subject: Postmaster Warning: Delayed Mail", self.inst.cmd("postcat", ["-q", new]).stdout)

    def test_delay_of_null_sender_mail_goes_to_postmaster(self):
        # A notice that is itself delayed: with notify_classes delay, the
        # postmaster is told, with the whole message (Postfix's bounce(8)).
        qid = self.submit("", "kim@remote.test", body="notice body\n")
        with Connection(self.sock("defer")) as c:
            self.append(c, qid, [rcpt("kim@remote.test")], "4.4.1", "connection timed out", "none", "delayed")
            self.assertEqual(self.op(c, "warn", qid)[0], 0)
        who, new, text = self.notice(qid, "delay notification")
        self.assertEqual(who, "postmaster")
        self.assertIn("Subject: Postmaster Warning: Delayed Mail", text)
        self.assertRegex(text, r"(?m)^sender: double-bounce@example.test$")
        self.assertIn("Content-Type: message/rfc822", text)
        self.assertIn("notice body", text)
        self.assertNotRegex(self.inst.maillog(), rf"{qid}: sender delay notification")

    def test_bounce_of_null_sender_goes_to_postmaster_once(self):
        qid = self.submit("", "jack@remote.test")
        self.assertRegex(self.inst.cmd("postcat", ["-q", qid]).stdout, r"(?m)^sender: $")
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.append(c, qid, [rcpt("jack@remote.test")], "5.1.1", "no such user", "none",
                                         "failed")[0], 0)
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        who, new, text = self.notice(qid, "non-delivery notification")
        self.assertEqual(who, "postmaster")
        self.assertRegex(text, r"(?m)^recipient: postmaster(@example.test)?$")
        self.assertRegex(text, r"(?m)^sender: double-bounce@example.test$")
        # The postmaster notice failing in turn is dropped, never bounced again.
        with Connection(self.sock("bounce")) as c:
            self.assertEqual(self.append(c, new, [rcpt("postmaster@example.test")], "5.1.1", "no such user",
                                         "none", "failed")[0], 0)
            self.assertEqual(self.op(c, "flush", new)[0], 0)
        self.inst.wait_log(rf"{new}: undeliverable postmaster notification discarded")
        self.assertNotRegex(self.inst.maillog(), rf"{new}: \w+ non-delivery notification")


if __name__ == "__main__":
    unittest.main()


class TemplateTest(_Base, unittest.TestCase):
    """bounce_template_file: the administrator's text, From:, Subject: and charset."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmpl_dir = tempfile.mkdtemp(prefix="postern-bounce-cf-")
        path = os.path.join(cls.tmpl_dir, "bounce.cf")
        with open(path, "w", encoding="utf-8") as f:
            f.write("# Our own words.\n"
                    "failure_template = <<EOF\n"
                    "Charset: utf-8\n"
                    "From: MAILER-DAEMON (Postmeister)\n"
                    "Subject: Unzustellbar\n"
                    "\n"
                    "Hier ist $myhostname: leider unzustellbar. Gr\u00fc\u00dfe.\n"
                    "EOF\n"
                    "delay_template = <<EOF\n"
                    "Still trying after $delay_warning_time_hours hours, for up to "
                    "$maximal_queue_lifetime_days days.\n"
                    "EOF\n")
        cls.EXTRA = f"bounce_template_file = {path}\ndelay_warning_time = 4h\nmaximal_queue_lifetime = 3d\n"
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        import shutil
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmpl_dir, ignore_errors=True)

    def test_failure_template(self):
        qid = self.submit("uma@example.test", "vic@remote.test")
        with Connection(self.sock("bounce")) as c:
            self.append(c, qid, [rcpt("vic@remote.test")], "5.1.1", "no such user", "none", "failed")
            self.assertEqual(self.op(c, "flush", qid)[0], 0)
        _, _, text = self.notice(qid, "non-delivery notification")
        for want in ("From: MAILER-DAEMON@mail.example.test (Postmeister)", "Subject: Unzustellbar",
                     "Content-Type: text/plain; charset=utf-8",
                     "Hier ist mail.example.test: leider unzustellbar. Gr\u00fc\u00dfe.",
                     "<vic@remote.test>: no such user", "Final-Recipient: rfc822; vic@remote.test"):
            self.assertIn(want, text)
        self.assertNotIn("This is the mail system", text)
        # The UTF-8 text makes the notice 8-bit, whatever the original was,
        # so that it is never sent raw to a server without 8BITMIME.
        self.assertRegex(text, r"(?m)^named_attribute: encoding=8bit$")

    def test_delay_template_times(self):
        qid = self.submit("uma@example.test", "wes@remote.test")
        with Connection(self.sock("defer")) as c:
            self.append(c, qid, [rcpt("wes@remote.test")], "4.4.1", "connection refused", "none", "delayed")
            self.assertEqual(self.op(c, "warn", qid)[0], 0)
            self.op(c, "remove", qid)
        _, _, text = self.notice(qid, "delay notification")
        self.assertIn("Still trying after 4 hours, for up to 3 days.", text)
        self.assertIn("Subject: Delayed Mail (still being retried)", text)  # no Subject: in that template

    def test_zz_template_problems(self):
        # (Runs last: it reloads the instance with other files, then back.)
        # A problem inside a template costs that template only, as with
        # Postfix's bounce(8): a warning, the built-in text, bounces go on.
        # Only a file that cannot be read as templates at all stops it.
        bad = os.path.join(self.tmpl_dir, "bad.cf")
        main_cf = self.inst.path("main.cf")
        with open(main_cf) as f:
            good = f.read()
        try:
            with open(bad, "w") as f:
                f.write("failur_template = <<EOF\ntypo\nEOF\nfailure_template = <<EOF\nno end\n")
            with open(main_cf, "a") as f:
                f.write(f"bounce_template_file = {bad}\n")
            self.inst.run(["reload"])
            time.sleep(1)
            qid = self.submit("una@example.test", "vic@remote.test")
            with Connection(self.sock("bounce")) as c:
                self.append(c, qid, [rcpt("vic@remote.test")], "5.1.1", "no such user", "none", "failed")
                self.assertEqual(self.op(c, "flush", qid)[0], 0)
            _, _, text = self.notice(qid, "non-delivery notification")
            self.assertIn("This is the mail system at host", text)
            log = self.inst.maillog()
            self.assertRegex(log, rf'postern/bounce\[\d+\]: warning: {re.escape(bad)}, line 1: unknown template '
                                  r'"failur_template" -- ignoring this template')
            self.assertRegex(log, rf'warning: {re.escape(bad)}, line 4: failure_template has no "EOF" line to '
                                  r'end it -- ignoring this template')
            with open(bad, "w") as f:
                f.write("stray text\n")
            self.inst.run(["reload"])
            time.sleep(1)
            try:
                with Connection(self.sock("bounce"), timeout=5) as c:
                    self.op(c, "remove", "4B3C2D1E5")
            except (OSError, AssertionError, ValueError):
                pass  # the daemon dies before it answers
            self.inst.wait_log(rf"postern/bounce\[\d+\]: fatal: .*{re.escape(bad)}, line 1: expected "
                               r'"name = <<EOF", found "stray text"')
        finally:
            with open(main_cf, "w") as f:
                f.write(good)
            self.inst.run(["reload"])
