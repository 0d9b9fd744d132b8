"""The cleanup daemon end to end: a real master runs cleanup (and
trivial-rewrite when it is built), the test speaks the submission protocol
(submit/cleanup_proto.h) over queue_directory/public/cleanup with the
Python wire encoder, and checks the queue files with the real postcat.
"""
import os
import re
import stat
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, Instance, wait_for
from ipcwire import Connection, decode, encode, frame

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"

EXTRACT = 1
LOCAL = 2

HAVE_REWRITE = os.path.exists(os.path.join(LIBEXEC, "trivial-rewrite"))


def send(c, mtype, attrs=()):
    c.send_raw(frame(encode(mtype, list(attrs))))


def receive(c):
    return decode(c.read_frame())


def closed_by_peer(c):
    """True when the peer has closed the connection (EOF after any pending bytes)."""
    try:
        while True:
            if not c.sock.recv(65536):
                return True
    except OSError:
        return True


@unittest.skipUnless(os.path.exists(os.path.join(LIBEXEC, "cleanup")), "cleanup not built")
class CleanupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = Instance("cleanup", main_cf_extra=(
            NO_QMGR_FLOW +
            "myhostname = mx.example.com\n"
            "mydomain = example.com\n"
            "message_size_limit = 20000\n"
            "hopcount_limit = 5\n"
            # Woken at public/$queue_service_name (a FIFO made by a test).
            "queue_service_name = testqmgr\n"))
        services = "cleanup unix n - n - 0 cleanup\n"
        if HAVE_REWRITE:
            services += "rewrite unix - - n - - trivial-rewrite\n"
        cls.inst.write_master_cf(HEADER + services)
        cls.inst.start()
        cls.sock = os.path.join(cls.inst.queue, "public", "cleanup")
        wait_for(lambda: os.path.exists(cls.sock), what="public/cleanup")

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    # --- helpers -----------------------------------------------------
    def open(self, flags=0, origin="test"):
        c = Connection(self.sock)
        self.addCleanup(c.close)
        send(c, "cleanup_open", [("flags", flags), ("origin", origin)])
        t, a = receive(c)
        self.assertEqual(t, "cleanup_opened", a)
        return c, a["queue_id"]

    def submit(self, sender, recipients, content, flags=0, envelope=()):
        c, qid = self.open(flags)
        send(c, "cleanup_envelope", [("sender", sender)] + list(envelope))
        for r in recipients:
            send(c, "cleanup_recipient", [("address", r), ("notify", 0)])
        data = content.encode() if isinstance(content, str) else content
        for i in range(0, len(data), 65536):
            send(c, "cleanup_content", [("data", data[i:i + 65536])])
        send(c, "cleanup_end")
        t, a = receive(c)
        self.assertEqual(t, "cleanup_result")
        return qid, a

    def incoming(self, qid):
        return os.path.join(self.inst.queue, "incoming", qid)

    def postcat(self, qid):
        p = self.inst.cmd("postcat", [self.incoming(qid)])
        return p.stdout

    # --- tests -------------------------------------------------------
    def test_wakes_queue_manager_at_queue_service_name(self):
        fifo = os.path.join(self.inst.queue, "public", "testqmgr")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        os.chmod(fifo, 0o666)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, fd)
        qid, res = self.submit("a@example.com", ["b@example.com"], "Subject: wake\n\nbody\n")
        self.assertEqual(res["status"], 0, res)
        got = bytearray()

        def woken():
            try:
                got.extend(os.read(fd, 64))
            except BlockingIOError:
                pass
            return b"W" in got
        wait_for(woken, what="a W on public/testqmgr")

    def test_local_submission_is_durable_with_added_headers(self):
        qid, r = self.submit("joe", ["bob@example.org"], "Subject: local\n\nhello\n", flags=LOCAL,
                             envelope=[("full_name", "Joe User"), ("protocol", "sendmail")])
        self.assertEqual(r["status"], 0, r)
        self.assertEqual(r["dsn"], "2.0.0")
        self.assertEqual(r["queue_id"], qid)
        st = os.stat(self.incoming(qid))
        self.assertTrue(st.st_mode & stat.S_IXUSR, "queue file lacks the ready mark")
        out = self.postcat(qid)
        self.assertIn("sender: joe@mx.example.com", out)
        self.assertIn("recipient: bob@example.org", out)
        self.assertIn("named_attribute: protocol_name=sendmail", out)
        self.assertRegex(out, r"(?m)^From: Joe User <joe@mx\.example\.com>$")
        self.assertRegex(out, r"(?m)^Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} ")
        self.assertRegex(out, r"(?m)^Message-ID: <\d{14}\." + qid + r"@mx\.example\.com>$")
        self.assertIn("Subject: local\n", out)
        self.assertIn("\nhello\n", out)
        self.inst.wait_log(r"postern/cleanup\[\d+\]: " + qid + r": message-id=<\d{14}\." + qid)

    def test_remote_message_is_stored_unchanged(self):
        content = "From: a@example.net\nTo: b@example.org\nSubject: remote\n\nline\n.dot\n"
        qid, r = self.submit("a@example.net", ["b@example.org"], content,
                             envelope=[("client_addr", "192.0.2.1"), ("client_name", "client.example.net"),
                                       ("helo", "client.example.net"), ("protocol", "ESMTP")])
        self.assertEqual(r["status"], 0, r)
        out = self.postcat(qid)
        self.assertIn("named_attribute: client_address=192.0.2.1", out)
        self.assertNotIn("Message-ID:", out)
        self.assertNotIn("Date:", out)
        self.assertIn(content, out)
        self.inst.wait_log(qid + r": message-id=<>")

    def test_extract_recipients_removes_bcc(self):
        content = ("From: joe@example.com\nTo: to@example.org\nCc: cc@example.org\n"
                   "Bcc: hidden@example.org\nSubject: t\n\nbody\n")
        qid, r = self.submit("joe@example.com", [], content, flags=EXTRACT | LOCAL)
        self.assertEqual(r["status"], 0, r)
        out = self.postcat(qid)
        extracted = out.split("*** HEADER EXTRACTED")[1]
        for rcpt in ("to@example.org", "cc@example.org", "hidden@example.org"):
            self.assertIn("recipient: " + rcpt, extracted)
        self.assertNotIn("Bcc:", out)
        self.assertNotIn("hidden@example.org", out.split("*** HEADER EXTRACTED")[0])

    def test_duplicate_recipients_are_removed(self):
        qid, r = self.submit("a@example.net", ["b@example.org", "b@example.org", "c@example.org"],
                             "Subject: d\n\nx\n")
        self.assertEqual(r["status"], 0, r)
        out = self.postcat(qid)
        self.assertEqual(out.count("recipient: b@example.org"), 1)
        self.assertEqual(out.count("recipient: c@example.org"), 1)

    def test_hop_count_limit(self):
        content = "".join(f"Received: from hop{i}.example\n" for i in range(5)) + "\nbody\n"
        qid, r = self.submit("a@example.net", ["b@example.org"], content)
        self.assertEqual(r["status"], 554)
        self.assertEqual(r["dsn"], "5.4.0")
        self.assertEqual(r["reason"], "too many hops")
        self.assertFalse(os.path.exists(self.incoming(qid)))
        self.inst.wait_log(qid + r": message rejected: hopcount exceeded")
        # One hop fewer is fine.
        qid2, r2 = self.submit("a@example.net", ["b@example.org"], content.split("\n", 1)[1])
        self.assertEqual(r2["status"], 0, r2)

    def test_message_size_limit(self):
        qid, r = self.submit("a@example.net", ["b@example.org"], "Subject: big\n\n" + "x" * 30000 + "\n")
        self.assertEqual(r["status"], 552)
        self.assertEqual(r["dsn"], "5.3.4")
        self.assertFalse(os.path.exists(self.incoming(qid)))

    def test_disconnect_before_end_leaves_no_file(self):
        c, qid = self.open()
        self.assertTrue(os.path.exists(self.incoming(qid)), "queue file not created at open")
        self.assertFalse(os.stat(self.incoming(qid)).st_mode & stat.S_IXUSR)
        send(c, "cleanup_envelope", [("sender", "a@example.net")])
        send(c, "cleanup_recipient", [("address", "b@example.org"), ("notify", 0)])
        send(c, "cleanup_content", [("data", b"Subject: half\n\nsome text\n")])
        c.close()
        wait_for(lambda: not os.path.exists(self.incoming(qid)), what="abandoned queue file removal")

    def test_protocol_violation_is_refused_early(self):
        c, qid = self.open()
        send(c, "cleanup_recipient", [("address", "b@example.org"), ("notify", 0)])  # before the envelope
        t, a = receive(c)
        self.assertEqual(t, "cleanup_result")
        self.assertEqual(a["status"], 451)
        self.assertEqual(a["reason"], "internal protocol error")
        self.assertTrue(closed_by_peer(c))
        self.assertFalse(os.path.exists(self.incoming(qid)))
        self.inst.wait_log(r"malformed request from .*recipient out of order")

    def test_malformed_message_is_refused(self):
        c = Connection(self.sock)
        self.addCleanup(c.close)
        send(c, "cleanup_open", [("flags", 1 << 30), ("origin", "x")])
        t, a = receive(c)
        self.assertEqual(t, "cleanup_result")
        self.assertEqual(a["status"], 451)
        self.assertTrue(closed_by_peer(c))

    def test_header_addresses_are_canonicalised_for_local_mail(self):
        # trivial-rewrite when it runs, cleanup's built-in fallback otherwise:
        # either way a bare name gets @$myorigin.
        qid, r = self.submit("joe", ["bob"], "To: bob\nSubject: h\n\nb\n", flags=LOCAL)
        self.assertEqual(r["status"], 0, r)
        out = self.postcat(qid)
        self.assertIn("recipient: bob@mx.example.com", out)
        self.assertRegex(out, r"(?m)^To: bob@mx\.example\.com$")


if __name__ == "__main__":
    unittest.main()
