"""cleanup's header_checks, mime_header_checks, nested_header_checks and
body_checks, through a real smtpd and cleanup on a scratch instance.

The tables are regexp: files, as an administrator writes them; the client is
Python's smtplib. There is no qmgr: accepted messages stay in incoming/ (or
hold/), where postcat shows them. Log lines are checked in the maillog.
"""
import os
import smtplib
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, Instance, queued_id, smtpd_master_cf

HOST = "mx.test.example"
RCPT = f"alice@{HOST}"
HEADER_CHECKS = r"""
/^Subject: reject me/          REJECT no thanks
/^Subject: reject later/       REJECT 4.7.0 try later
/^Subject: warn me/            WARN suspicious subject
/^Subject: hold me/            HOLD held for review
/^Subject: discard me/         DISCARD gone
/^X-Drop-Me:/                  IGNORE
/^Subject: replace me/         REPLACE Subject: replaced
/^Subject: prepend me/         PREPEND X-Flag: prepended
/^Subject: filter me/          FILTER smtp:[127.0.0.1]:10025
/^Subject: bad filter/         FILTER smtp
/^Subject: redirect me/        REDIRECT postmaster@mx.test.example
/^Subject: bad action/         FROBNICATE
/^Content-(Disposition|Type):.*name="?[^"]*\.exe"?/   REJECT no executables
/^Subject: nested secret/      REJECT nested header matched
"""
BODY_CHECKS = r"""
/forbidden phrase/             REJECT body rejected
/^replace this line$/          REPLACE replaced line
/^drop this line$/             IGNORE
/^--frontier--$/               WARN end of a multipart
"""
INST = None
PORT = None
STRICT_PORT = []


def setUpModule():
    global INST, PORT
    INST = Instance("checks")
    hc, bc = INST.path("header_checks"), INST.path("body_checks")
    with open(hc, "w") as f:
        f.write(HEADER_CHECKS)
    with open(bc, "w") as f:
        f.write(BODY_CHECKS)
    with open(INST.path("main.cf"), "a") as f:
        f.write(f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname
local_recipient_maps = inline:{{alice=x}}
header_checks = regexp:{hc}
body_checks = regexp:{bc}
body_checks_size_limit = 20000
{NO_QMGR_FLOW}""")
    ports = {}
    # "strict": the same checks plus Postfix's strict MIME checks, in a
    # cleanup service of its own.
    INST.write_master_cf(smtpd_master_cf({"main": "", "strict": "-o cleanup_service_name=strictcleanup"}, ports)
                         + "strictcleanup unix n - n - 0 cleanup -o strict_8bitmime=yes"
                           " -o strict_mime_encoding_domain=yes\n")
    PORT = ports["main"]
    STRICT_PORT.append(ports["strict"])
    INST.start()


def tearDownModule():
    if INST:
        INST.cleanup()


def send(message, port=None):
    """(code, text) of the reply to the message's end of data."""
    with smtplib.SMTP("127.0.0.1", port or PORT, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("sender@client.test")
        s.rcpt(RCPT)
        code, text = s.data(message.encode() if isinstance(message, str) else message)
        return code, text.decode(errors="replace")


def postcat(qid):
    return INST.cmd("postcat", ["-q", qid]).stdout


def queue_files(queue):
    found = []
    for dirpath, _, files in os.walk(os.path.join(INST.queue, queue)):
        found += files
    return found


def multipart(attachment_headers, attachment_body="aGVsbG8=\r\n", subject="mime"):
    return ("Subject: " + subject + "\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"frontier\"\r\n\r\n"
            "preamble\r\n--frontier\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
            "--frontier\r\n" + attachment_headers + "\r\n" + attachment_body + "--frontier--\r\n")


class ChecksTest(unittest.TestCase):
    def test_reject_by_header(self):
        code, text = send("Subject: reject me now\r\n\r\nbody\r\n")
        self.assertEqual((code, text), (550, "5.7.1 no thanks"))
        INST.wait_log(r"\w+: reject: header Subject: reject me now from localhost\[127\.0\.0\.1\]; "
                      r"from=<sender@client\.test> to=<alice@mx\.test\.example> proto=ESMTP "
                      r"helo=<client\.test>: 5\.7\.1 no thanks")
        code, text = send("Subject: reject later\r\n\r\nbody\r\n")
        self.assertEqual((code, text), (451, "4.7.0 try later"))

    def test_strict_mime_checks(self):
        strict = STRICT_PORT[0]
        body8 = "Subject: strict body\r\n\r\ncaf\u00e9\r\n".encode()
        self.assertEqual(send(body8, strict), (550, "5.6.0 improper use of 8-bit data in message body"))
        INST.wait_log(r"\w+: reject: mime-error improper use of 8-bit data in message body: caf\?\? from "
                      r"localhost\[127\.0\.0\.1\]; from=<sender@client\.test> to=<alice@mx\.test\.example>")
        header8 = "Subject: caf\u00e9\r\n\r\nbody\r\n".encode()
        self.assertEqual(send(header8, strict), (550, "5.6.0 improper use of 8-bit data in message header"))
        encoded = multipart("Content-Type: text/plain\r\n").replace(
            "Content-Type: multipart/mixed;", "Content-Transfer-Encoding: base64\r\nContent-Type: multipart/mixed;")
        self.assertEqual(send(encoded, strict), (550, "5.6.0 invalid message/* or multipart/* encoding domain"))
        # Declared 8bit: taken; and the default service takes all of it.
        declared = ("Subject: strict ok\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                    "caf\u00e9\r\n").encode()
        code, text = send(declared, strict)
        self.assertEqual(code, 250, text)
        for m in (body8, header8, encoded):
            code, text = send(m)
            self.assertEqual(code, 250, text)

    def test_warn_hold_and_discard(self):
        code, text = send("Subject: warn me\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        INST.wait_log(r"warning: header Subject: warn me from localhost\[127\.0\.0\.1\];.*: suspicious subject")

        code, text = send("Subject: hold me\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        qid = queued_id(text)
        self.assertIn(qid, queue_files("hold"))
        self.assertNotIn(qid, queue_files("incoming"))
        INST.wait_log(rf"{qid}: hold: header Subject: hold me from .*: held for review")

        code, text = send("Subject: discard me\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        qid = queued_id(text)
        self.assertNotIn(qid, queue_files("incoming") + queue_files("hold"))
        INST.wait_log(rf"{qid}: discard: header Subject: discard me from .*: gone")

    def test_ignore_replace_prepend(self):
        code, text = send("Subject: replace me\r\nX-Drop-Me: yes\r\nX-Keep: yes\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        out = postcat(queued_id(text))
        self.assertIn("Subject: replaced", out)
        self.assertNotIn("replace me", out)
        self.assertNotIn("X-Drop-Me", out)
        self.assertIn("X-Keep: yes", out)
        code, text = send("Subject: prepend me\r\n\r\nbody\r\n")
        out = postcat(queued_id(text))
        self.assertRegex(out, r"X-Flag: prepended\n(.*\n)?Subject: prepend me")

    def test_filter_action_is_written_to_the_queue_file(self):
        code, text = send("Subject: filter me\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        qid = queued_id(text)
        INST.wait_log(rf"{qid}: filter: header Subject: filter me from localhost\[127\.0\.0\.1\]; "
                      r"from=<sender@client\.test> to=<alice@mx\.test\.example> proto=ESMTP "
                      r"helo=<client\.test>: smtp:\[127\.0\.0\.1\]:10025")
        self.assertIn("content_filter=smtp:[127.0.0.1]:10025", postcat(qid))
        # Without "transport:destination" the action is a table mistake.
        code, text = send("Subject: bad filter\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        self.assertNotIn("content_filter", postcat(queued_id(text)))
        INST.wait_log(r"warning: \w+: bad FILTER action in header_checks: \"smtp\": need transport:destination")

    def test_redirect_action_unknown_is_ignored(self):
        code, text = send("Subject: redirect me\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        qid = queued_id(text)
        self.assertIn("redirect=postmaster@mx.test.example", postcat(qid))
        INST.wait_log(rf"{qid}: redirect: header Subject: redirect me from .*: postmaster@mx\.test\.example")
        code, text = send("Subject: bad action\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)
        INST.wait_log(r"warning: \w+: unknown command in header_checks: FROBNICATE")

    def test_mime_headers_of_attachments(self):
        code, text = send(multipart('Content-Type: application/octet-stream; name="run.exe"\r\n'
                                    "Content-Transfer-Encoding: base64\r\n"))
        self.assertEqual((code, text), (550, "5.7.1 no executables"))
        # Folded over two lines, as mail clients write long ones.
        code, text = send(multipart("Content-Type: application/octet-stream;\r\n"
                                    '\tname="run.exe"\r\n'))
        self.assertEqual((code, text), (550, "5.7.1 no executables"))
        code, text = send(multipart('Content-Type: text/plain; name="notes.txt"\r\n'))
        self.assertEqual(code, 250, text)
        # The closing boundary is a body line (body_checks see it).
        INST.wait_log(rf"{queued_id(text)}: warning: body --frontier-- from .*: end of a multipart")

    def test_headers_of_attached_messages(self):
        attached = "Content-Type: message/rfc822\r\n"
        inner = "From: someone@example.net\r\nSubject: nested secret\r\n\r\ninner body\r\n"
        code, text = send(multipart(attached, inner, subject="forwarded"))
        self.assertEqual((code, text), (550, "5.7.1 nested header matched"))
        # The same text in a body line is no header.
        code, text = send("Subject: plain\r\n\r\nSubject: nested secret\r\n")
        self.assertEqual(code, 250, text)

    def test_body_lines(self):
        code, text = send("Subject: b\r\n\r\nfirst\r\nthis has a forbidden phrase in it\r\n")
        self.assertEqual((code, text), (550, "5.7.1 body rejected"))
        INST.wait_log(r"reject: body this has a forbidden phrase in it from localhost\[127\.0\.0\.1\];")
        code, text = send("Subject: b\r\n\r\nkeep\r\nreplace this line\r\ndrop this line\r\nend\r\n")
        self.assertEqual(code, 250, text)
        out = postcat(queued_id(text))
        self.assertRegex(out, r"keep\nreplaced line\nend")
        self.assertNotIn("drop this line", out)

    def test_body_checks_size_limit(self):
        # Past body_checks_size_limit (20000 bytes here) a part is not inspected.
        filler = ("x" * 70 + "\r\n") * 400  # 28,800 bytes
        code, text = send("Subject: big\r\n\r\n" + filler + "a forbidden phrase late\r\n")
        self.assertEqual(code, 250, text)
        code, text = send("Subject: big\r\n\r\na forbidden phrase early\r\n" + filler)
        self.assertEqual(code, 550, text)

    def test_long_lines_pass_through_intact(self):
        long_line = "y" * 150000
        code, text = send("Subject: long\r\n\r\n" + long_line + "\r\nafter\r\n")
        self.assertEqual(code, 250, text)
        out = postcat(queued_id(text))
        self.assertIn(long_line, out)
        self.assertIn("\nafter\n", out)


if __name__ == "__main__":
    unittest.main()
