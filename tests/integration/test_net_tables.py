"""Client/server tables on a real instance: tcp: against Debian's postsrsd
(Sender Rewriting Scheme, the common use of tcp: tables with Postfix), and
socketmap: against a small server here that speaks socketmap_table(5).

- canonical maps through postsrsd rewrite the envelope sender of relayed mail
  to an SRS address, and an SRS address given as recipient back to the
  original one;
- smtpd's check_recipient_access through socketmap: a REJECT from the
  server is the client's 554, a TEMP the client's 451 (mail is never taken
  as unknown because the table could not answer);
- postmap -q queries both kinds of table and reports a server that is down.
"""
import os
import re
import shutil
import smtplib
import socket
import socketserver
import subprocess
import tempfile
import threading
import unittest
import uuid

from harness import Instance, SmtpClient, free_port, queue_master_cf, wait_for
from sink import Sink
from test_end_to_end import smtp_up

SRS_DOMAIN = "srs.test"


def netstring(b):
    return str(len(b)).encode() + b":" + b + b","


class SocketmapHandler(socketserver.StreamRequestHandler):
    """socketmap_table(5): netstring "name key" -> netstring reply. The map
    "access" answers from ACCESS; every request is recorded."""

    ACCESS = {"blocked@remote.test": "OK REJECT no thanks"}
    seen = []

    def handle(self):
        while True:
            digits = b""
            while True:
                c = self.rfile.read(1)
                if not c:
                    return
                if c == b":":
                    break
                digits += c
            data = self.rfile.read(int(digits) + 1)[:-1].decode()
            SocketmapHandler.seen.append(data)
            name, _, key = data.partition(" ")
            if name != "access":
                reply = "PERM no such map"
            elif key.startswith("temp@"):
                reply = "TEMP database unavailable"
            else:
                reply = self.ACCESS.get(key, "NOTFOUND ")
            self.wfile.write(netstring(reply.encode()))
            self.wfile.flush()


class ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@unittest.skipUnless(shutil.which("postsrsd"), "postsrsd not installed (scripts/install-deps.sh --test installs it)")
class NetTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-srs-")
        secret = os.path.join(cls.tmp, "secret")
        with open(secret, "w") as f:
            f.write(uuid.uuid4().hex + "\n")
        os.chmod(secret, 0o644)
        cls.fwd, cls.rev = free_port(), free_port()
        argv = ["postsrsd", "-s", secret, "-d", SRS_DOMAIN, "-f", str(cls.fwd), "-r", str(cls.rev),
                "-l", "127.0.0.1", "-4"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        cls.srsd = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def srsd_up():
            try:
                socket.create_connection(("127.0.0.1", cls.rev), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(srsd_up, timeout=10, what="postsrsd listening")

        cls.smap = ThreadingServer(("127.0.0.1", 0), SocketmapHandler)
        cls.smap_port = cls.smap.server_address[1]
        threading.Thread(target=cls.smap.serve_forever, daemon=True).start()

        cls.sink = Sink()
        cls.port = free_port()
        # A second smtpd whose cleanup asks a tcp: table nobody serves.
        cls.port_down, cls.down = free_port(), free_port()
        access = f"socketmap:inet:127.0.0.1:{cls.smap_port}:access"
        main_cf = f"""
myhostname = mta.test
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{cls.sink.port}
sender_canonical_maps = tcp:127.0.0.1:{cls.fwd}
sender_canonical_classes = envelope_sender
recipient_canonical_maps = tcp:127.0.0.1:{cls.rev}
recipient_canonical_classes = envelope_recipient, header_recipient
smtpd_recipient_restrictions = check_recipient_access {access}, permit_mynetworks, reject_unauth_destination
"""
        cls.inst = Instance("nettables", main_cf_extra=main_cf,
                            master_cf=queue_master_cf(cls.port, "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"
                                                      f"127.0.0.1:{cls.port_down} inet n - n - - smtpd"
                                                      " -o cleanup_service_name=cleanup2\n"
                                                      "cleanup2 unix n - n - 0 cleanup"
                                                      f" -o sender_canonical_maps=tcp:127.0.0.1:{cls.down}\n"))
        cls.inst.start()
        wait_for(lambda: smtp_up(cls.port), timeout=15, what="smtpd listening")

    @classmethod
    def tearDownClass(cls):
        try:
            if os.environ.get("KEEP_LOG"): shutil.copy(cls.inst.path("maillog"), os.environ["KEEP_LOG"])
            cls.inst.cleanup()
        finally:
            cls.sink.stop()
            cls.smap.shutdown()
            cls.smap.server_close()
            cls.srsd.kill()
            cls.srsd.wait()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def relay(self, sender, rcpt, token):
        before = self.sink.count()
        msg = f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {token}\r\n\r\nbody {token}\r\n"
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail(sender, [rcpt], msg)
        self.sink.wait_count(before + 1, timeout=30)
        got = [m for m in self.sink.messages if token.encode() in m[2]]
        self.assertEqual(len(got), 1)
        return got[0]

    def test_srs_forward_and_reverse_through_postsrsd(self):
        mail_from, rcpts, _ = self.relay("alice@sender.test", "bob@remote.test", uuid.uuid4().hex)
        self.assertRegex(mail_from, rf"^SRS0=[^=]+=[^=]+=sender\.test=alice@{re.escape(SRS_DOMAIN)}$")
        self.assertEqual(rcpts, ["bob@remote.test"])
        # A bounce to the SRS address finds its way back to alice.
        mail_from2, rcpts2, data2 = self.relay("mailer-daemon@remote.test", mail_from, uuid.uuid4().hex)
        self.assertEqual(rcpts2, ["alice@sender.test"])
        self.assertIn(b"To: <alice@sender.test>", data2)
        # postsrsd leaves its own domain alone: the table answers with the key.
        mail_from3, _, _ = self.relay(f"carol@{SRS_DOMAIN}", "dave@remote.test", uuid.uuid4().hex)
        self.assertEqual(mail_from3, f"carol@{SRS_DOMAIN}")

    def test_socketmap_access_reject_temp_and_pass(self):
        c = SmtpClient(self.port)
        try:
            self.assertTrue(c.ask("EHLO client.test").startswith("250"))
            self.assertTrue(c.ask("MAIL FROM:<x@sender.test>").startswith("250"))
            r = c.ask("RCPT TO:<blocked@remote.test>")
            self.assertEqual(r, "554 5.7.1 <blocked@remote.test>: Recipient address rejected: no thanks")
            r = c.ask("RCPT TO:<temp@remote.test>")
            self.assertTrue(r.startswith("451 4.3.0 <temp@remote.test>: "), r)
            r = c.ask("RCPT TO:<fine@remote.test>")
            self.assertTrue(r.startswith("250"), r)
            c.ask("QUIT")
        finally:
            c.close()
        self.assertIn("access blocked@remote.test", SocketmapHandler.seen)
        self.assertIn("access temp@remote.test", SocketmapHandler.seen)
        self.inst.wait_log(r"warning: socketmap:inet:127\.0\.0\.1:\d+:access lookup error for "
                           r"\"temp@remote\.test\": server says TEMP: \"database unavailable\"")

    def test_unreachable_table_defers_in_cleanup(self):
        with smtplib.SMTP("127.0.0.1", self.port_down, timeout=30) as s:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                s.sendmail("alice@sender.test", ["bob@remote.test"], "Subject: x\r\n\r\nx\r\n")
        self.assertEqual(e.exception.smtp_code, 451)
        self.assertIn(b"4.3.0", e.exception.smtp_error)
        self.inst.wait_log(rf"warning: tcp:127\.0\.0\.1:{self.down} lookup error for \"alice@sender\.test\": "
                           rf"connect to 127\.0\.0\.1:{self.down}: Connection refused")

    def test_postmap_queries(self):
        p = self.inst.cmd("postmap", ["-q", "erin@elsewhere.test", f"tcp:127.0.0.1:{self.fwd}"])
        self.assertRegex(p.stdout.strip(), rf"^SRS0=[^=]+=[^=]+=elsewhere\.test=erin@{re.escape(SRS_DOMAIN)}$")
        p = self.inst.cmd("postmap", ["-q", "plain@x.test", f"tcp:127.0.0.1:{self.rev}"], check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.inst.cmd("postmap", ["-q", "blocked@remote.test",
                                      f"socketmap:inet:127.0.0.1:{self.smap_port}:access"])
        self.assertEqual(p.stdout.strip(), "REJECT no thanks")
        down = free_port()
        p = self.inst.cmd("postmap", ["-q", "k", f"tcp:127.0.0.1:{down}"], check=False)
        # As Postfix's postmap: a fatal error (exit 1), not "not found".
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"postmap: fatal: table tcp:127.0.0.1:{down}: query error: ", p.stderr)
        self.assertIn(f"connect to 127.0.0.1:{down}: Connection refused", p.stderr)


if __name__ == "__main__":
    unittest.main()
