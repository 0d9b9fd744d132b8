"""smtpd_proxy_filter: the before-queue content filter, through a real smtpd.

The filter is a small scripted SMTP server here (Python, one thread per
connection) that records what smtpd sends it and answers as told: accept,
refuse a recipient, refuse the content. The client is smtplib. smtpd must
pass the client's MAIL FROM and RCPT TO on unchanged, add its own EHLO,
XFORWARD, DATA and QUIT, stream the content with its Received: header and
the dot-stuffing intact, and give the client the filter's answers; it
queues nothing itself.
"""
import smtplib
import socket
import threading
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, Instance, free_port, read_smtp_data, smtpd_master_cf, wait_for

HOST = "mx.test.example"
RCPT = f"alice@{HOST}"


class Filter:
    """A scripted SMTP server standing in for amavisd-new or similar."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sessions = []  # per connection: list of (kind, text), kind "cmd" or "data"
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def accept_loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            log = []
            self.sessions.append(log)
            threading.Thread(target=self.session, args=(c, log), daemon=True).start()

    def session(self, c, log):
        f = c.makefile("rb")

        def say(text):
            c.sendall(text.encode() + b"\r\n")

        try:
            say("220 filter.test ESMTP")
            while True:
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.decode(errors="replace").rstrip("\r\n")
                log.append(("cmd", cmd))
                verb = cmd.split(" ", 1)[0].upper().split(":")[0]
                if verb == "EHLO":
                    say("250-filter.test\r\n250-PIPELINING\r\n250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT\r\n250 8BITMIME")
                elif verb == "RCPT" and "refuse-me" in cmd:
                    say("550 5.1.1 refused by the filter")
                elif verb == "DATA":
                    say("354 go ahead")
                    data = read_smtp_data(f)
                    if data is None:
                        return
                    log.append(("data", data.decode(errors="replace")))
                    if b"EICAR-LIKE" in data:
                        say("554 5.7.1 virus found")
                    else:
                        say("250 2.0.0 Ok: queued as FILTER1")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("250 2.0.0 Ok")
        except OSError:
            pass
        finally:
            c.close()


FILTER = None
INST = None
PORTS = {}


def setUpModule():
    global FILTER, INST
    FILTER = Filter()
    dead = free_port()  # nothing listens there
    INST = Instance("proxy")
    with open(INST.path("main.cf"), "a") as f:
        f.write(f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname
local_recipient_maps = inline:{{alice=x, bob=x, refuse-me=x}}
{NO_QMGR_FLOW}""")
    INST.write_master_cf(smtpd_master_cf({
        "main": f"-o smtpd_proxy_filter=127.0.0.1:{FILTER.port} -o smtpd_proxy_ehlo=before.filter.test",
        "dead": f"-o smtpd_proxy_filter=127.0.0.1:{dead} -o smtpd_proxy_timeout=5s",
    }, PORTS))
    INST.start()


def tearDownModule():
    if INST:
        INST.cleanup()
    if FILTER:
        FILTER.close()


class ProxyFilterTest(unittest.TestCase):
    def test_message_passes_through_the_filter(self):
        before = len(FILTER.sessions)
        with smtplib.SMTP("127.0.0.1", PORTS["main"], timeout=30) as s:
            s.ehlo("client.test")
            code, text = s.docmd("MAIL FROM:<sender@client.test> SIZE=100")
            self.assertEqual(code, 250, text)
            # smtpd's own checks first: this one never reaches the filter.
            code, text = s.docmd(f"RCPT TO:<nobody@{HOST}>")
            self.assertEqual(code, 550, text)
            self.assertIn(b"User unknown in local recipient table", text)
            self.assertEqual(s.docmd(f"RCPT TO:<{RCPT}>")[0], 250)
            # The filter's refusal is the client's.
            self.assertEqual(s.docmd(f"RCPT TO:<refuse-me@{HOST}>"), (550, b"5.1.1 refused by the filter"))
            code, text = s.data(b"Subject: through\r\n\r\nhello\r\n.leading dot\r\n")
            self.assertEqual((code, text), (250, b"2.0.0 Ok: queued as FILTER1"))
        wait_for(lambda: len(FILTER.sessions) > before and ("cmd", "QUIT") in FILTER.sessions[before],
                 10, what="the filter's QUIT")
        log = FILTER.sessions[before]
        cmds = [t for k, t in log if k == "cmd"]
        self.assertEqual(cmds[0], "EHLO before.filter.test")
        self.assertTrue(cmds[1].startswith("XFORWARD NAME=localhost ADDR=127.0.0.1 PORT="), cmds)
        self.assertIn("PROTO=ESMTP HELO=client.test SOURCE=REMOTE", cmds[1])
        self.assertEqual(cmds[2:], ["MAIL FROM:<sender@client.test> SIZE=100", f"RCPT TO:<{RCPT}>",
                                    f"RCPT TO:<refuse-me@{HOST}>", "DATA", "QUIT"])
        data = [t for k, t in log if k == "data"][0]
        self.assertTrue(data.startswith("Received: from client.test (localhost [127.0.0.1])"), data)
        self.assertIn(f"by {HOST} (Postern) with ESMTP", data)
        self.assertIn("\r\nSubject: through\r\n\r\nhello\r\n..leading dot\r\n", data)  # still dot-stuffed
        INST.wait_log(r"NOQUEUE: proxy-reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 refused by the "
                      r"filter; from=<sender@client\.test> to=<refuse-me@mx\.test\.example>")
        INST.wait_log(r"NOQUEUE: proxy-accept: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 250 2\.0\.0 Ok: "
                      r"queued as FILTER1; from=<sender@client\.test> to=<alice@mx\.test\.example>")
        # The after-filter smtpd queues, not this one (incoming/ may hold
        # a postmaster notice of test_filter_unreachable's software error).
        self.assertEqual(INST.queued_with("Subject: through"), [])

    def test_filter_refuses_the_content(self):
        with smtplib.SMTP("127.0.0.1", PORTS["main"], timeout=30) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            s.rcpt(RCPT)
            s.rcpt(f"bob@{HOST}")
            code, text = s.data(b"Subject: bad\r\n\r\nEICAR-LIKE\r\n")
            self.assertEqual((code, text), (554, b"5.7.1 virus found"))
            # The next transaction on the same session gets a new connection.
            s.mail("sender@client.test")
            s.rcpt(RCPT)
            self.assertEqual(s.data(b"Subject: good\r\n\r\nfine\r\n")[0], 250)
        INST.wait_log(r"NOQUEUE: proxy-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 virus "
                      r"found; from=<sender@client\.test> proto=ESMTP helo=<client\.test>")

    def test_filter_unreachable(self):
        with smtplib.SMTP("127.0.0.1", PORTS["dead"], timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(s.docmd("MAIL FROM:<sender@client.test>"), (451, b"4.3.0 Error: queue file write error"))
            # Nothing was started: the client may try again, and RCPT needs MAIL.
            self.assertEqual(s.docmd(f"RCPT TO:<{RCPT}>")[0], 503)
        INST.wait_log(r"warning: NOQUEUE: proxy filter inet:127\.0\.0\.1:\d+: connect: connect: Connection refused")

    def test_rset_mid_transaction_quits_the_filter(self):
        before = len(FILTER.sessions)
        with smtplib.SMTP("127.0.0.1", PORTS["main"], timeout=30) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            s.rcpt(RCPT)
            s.rset()
        wait_for(lambda: len(FILTER.sessions) > before and ("cmd", "QUIT") in FILTER.sessions[before],
                 10, what="the filter's QUIT")
        cmds = [t for k, t in FILTER.sessions[before] if k == "cmd"]
        self.assertNotIn("DATA", cmds)


if __name__ == "__main__":
    unittest.main()
