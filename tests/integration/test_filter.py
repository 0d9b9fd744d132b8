"""After-queue content filters, as Postfix's FILTER_README sets them up.

One instance: smtpd on a public port with main.cf's content_filter, and a
second smtpd (the reinjection port) with "-o content_filter=" and
"-o receive_override_options=no_unknown_recipient_checks,no_header_body_checks".
The filters are tests/integration/sink.py servers that add a header and send
the message on to the reinjection port with smtplib before they answer, as
amavisd does; the final destination is another sink (relayhost).

What is checked is what an admin sees: the mail at its destination filtered
once (no loop), the header_checks that apply to mail from outside not
applied to the filter's reinjection, the FILTER actions of access tables and
header_checks choosing another filter, sendmail mail (pickup) filtered too,
and Postfix-shaped log lines.
"""
import email
import os
import re
import smtplib
import subprocess
import unittest

from harness import LIBEXEC, SBIN, Instance, free_port, queue_master_cf, wait_for
from sink import Sink

HOST = "filter.test"
RCPT = "bob@remote.test"


def reinjector(name, port):
    """A content filter: adds "X-Filtered: NAME" and sends the message to
    127.0.0.1:port with its envelope; answers 250 only once that worked."""
    def on_message(mail_from, rcpts, data):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail(mail_from, rcpts, f"X-Filtered: {name}\r\n".encode() + data)
            return f"250 2.0.0 Ok: filtered by {name}"
        except (OSError, smtplib.SMTPException) as e:
            return f"451 4.3.0 filter {name}: {str(e)[:100]}"
    return on_message


def send(port, sender, subject, extra_headers="", rcpt=RCPT):
    msg = f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n{extra_headers}\r\nbody of {subject}\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, [rcpt], msg)


class ContentFilter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink()
        cls.port, cls.back = free_port(), free_port()
        cls.filter_a = Sink(on_message=reinjector("A", cls.back))
        cls.filter_b = Sink(on_message=reinjector("B", cls.back))
        a, b = cls.filter_a.port, cls.filter_b.port
        main_cf = f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{cls.sink.port}
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
content_filter = smtp:[127.0.0.1]:{a}
smtpd_sender_restrictions = check_sender_access inline:{{ {{special@client.test = FILTER smtp:[127.0.0.1]:{b}}},
  {{redirected@client.test = REDIRECT catcher@remote.test}} }}
"""
        master_cf = queue_master_cf(cls.port, (
            f"127.0.0.1:{cls.back} inet n - n - - smtpd -o content_filter=\n"
            "  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks\n"
            "  -o smtpd_sender_restrictions=\n"
            "pickup unix n - n 60 1 pickup\n"
            "smtp unix - - n - - smtp\n"))
        cls.inst = Instance("filter", main_cf_extra=main_cf, master_cf=master_cf)
        hc = cls.inst.path("header_checks")
        with open(hc, "w") as f:
            f.write("/^X-Filtered:/ REJECT 5.7.1 forged filter header\n"
                    f"/^Subject: to filter B/ FILTER smtp:[127.0.0.1]:{b}\n"
                    "/^Subject: redirect me/ REDIRECT catcher2@remote.test\n"
                    "/^Subject: copy me/ BCC copy@remote.test\n")
        with open(cls.inst.path("main.cf"), "a") as f:
            f.write(f"header_checks = regexp:{hc}\n")
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.inst.cleanup()
        finally:
            for s in (cls.sink, cls.filter_a, cls.filter_b):
                s.stop()

    def delivered(self, subject):
        """The message with `subject` once the final sink has it."""
        def find():
            with self.sink.lock:
                for m in self.sink.messages:
                    msg = email.message_from_bytes(m[2])
                    if msg["Subject"] == subject:
                        return m, msg
            return None
        try:
            return wait_for(find, timeout=30, what=f"{subject!r} at the destination")
        except AssertionError as e:
            raise AssertionError(f"{e}; the log ends:\n" + "\n".join(self.inst.maillog().splitlines()[-25:]))

    def test_content_filter_round_trip(self):
        send(self.port, "alice@client.test", "plain")
        (mail_from, rcpts, _), msg = self.delivered("plain")
        self.assertEqual((mail_from, rcpts), ("alice@client.test", [RCPT]))
        # Filtered exactly once: the reinjection port has no content_filter,
        # and its no_header_body_checks let the X-Filtered header through.
        self.assertEqual(msg.get_all("X-Filtered"), ["A"])
        a = self.filter_a.port
        self.inst.wait_log(rf"to=<{re.escape(RCPT)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{a}, .*"
                           r"status=sent \(250 2\.0\.0 Ok: filtered by A\)")
        self.inst.wait_log(rf"to=<{re.escape(RCPT)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{self.sink.port}, .*"
                           r"status=sent")

    def test_header_checks_still_apply_from_outside(self):
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            send(self.port, "alice@client.test", "forged", "X-Filtered: A\r\n")
        self.assertEqual(cm.exception.smtp_code, 550)

    def test_access_filter_action_chooses_another_filter(self):
        send(self.port, "special@client.test", "special sender")
        _, msg = self.delivered("special sender")
        self.assertEqual(msg.get_all("X-Filtered"), ["B"])
        self.inst.wait_log(r"filter: RCPT from localhost\[127\.0\.0\.1\]: <special@client\.test>: "
                           rf"Sender address triggers FILTER smtp:\[127\.0\.0\.1\]:{self.filter_b.port}; "
                           r"from=<special@client\.test> to=<bob@remote\.test> proto=ESMTP")

    def test_header_check_filter_action_wins(self):
        send(self.port, "alice@client.test", "to filter B")
        _, msg = self.delivered("to filter B")
        self.assertEqual(msg.get_all("X-Filtered"), ["B"])
        self.inst.wait_log(r"\w+: filter: header Subject: to filter B from localhost\[127\.0\.0\.1\]; "
                           rf"from=<alice@client\.test>.*: smtp:\[127\.0\.0\.1\]:{self.filter_b.port}")

    def test_redirect_overrides_recipients_and_filter(self):
        # smtpd's access table REDIRECT: every recipient replaced by one,
        # and no content filter either (Postfix: REDIRECT wins over FILTER).
        msg = "Subject: redirected sender\r\n\r\nbody\r\n"
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("redirected@client.test", [RCPT, "carol@remote.test"], msg)
        (_, rcpts, _), m = self.delivered("redirected sender")
        self.assertEqual(rcpts, ["catcher@remote.test"])
        self.assertIsNone(m.get_all("X-Filtered"))
        self.inst.wait_log(r"redirect: RCPT from localhost\[127\.0\.0\.1\]: <redirected@client\.test>: "
                           r"Sender address triggers REDIRECT catcher@remote\.test")
        self.inst.wait_log(r"to=<catcher@remote\.test>, orig_to=<bob@remote\.test>, relay=127\.0\.0\.1.*status=sent")
        # cleanup's header_checks REDIRECT does the same.
        send(self.port, "alice@client.test", "redirect me")
        (_, rcpts, _), m = self.delivered("redirect me")
        self.assertEqual(rcpts, ["catcher2@remote.test"])

    def test_header_check_bcc_adds_a_recipient(self):
        send(self.port, "alice@client.test", "copy me")
        (_, rcpts, _), m = self.delivered("copy me")
        self.assertEqual(sorted(rcpts), ["bob@remote.test", "copy@remote.test"])
        self.assertEqual(m.get_all("X-Filtered"), ["A"])

    def test_sendmail_mail_is_filtered(self):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", self.inst.dir, "-f", "carol@" + HOST, RCPT],
                           input=f"Subject: from sendmail\nTo: {RCPT}\n\nhello\n", capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        _, msg = self.delivered("from sendmail")
        self.assertEqual(msg.get_all("X-Filtered"), ["A"])

    def test_filter_down_defers_and_nothing_goes_around_it(self):
        self.filter_a.down()
        try:
            send(self.port, "alice@client.test", "while down")
            self.inst.wait_log(r"to=<bob@remote\.test>, relay=none, .*status=deferred .*"
                               rf"127\.0\.0\.1\[127\.0\.0\.1\]:{self.filter_a.port}")
            with self.sink.lock:
                subjects = [email.message_from_bytes(m[2])["Subject"] for m in self.sink.messages]
            self.assertNotIn("while down", subjects)
        finally:
            self.filter_a.up()
        subprocess.run([os.path.join(SBIN, "postqueue"), "-c", self.inst.dir, "-f"], capture_output=True,
                       timeout=30)
        _, msg = self.delivered("while down")
        self.assertEqual(msg.get_all("X-Filtered"), ["A"])


if __name__ == "__main__":
    unittest.main()
