"""qmqpd end to end (Postfix's qmqpd(8)): a QMQP client speaking to the
master's listener, TCP on 127.0.0.1 and a Unix-domain socket as a content
filter's reinjection service uses it; the message lands in incoming/ through
cleanup, and the checks are what an admin sees: the reply netstring, the
queue file through postcat, and the maillog.

The client is a few lines of Python (QMQP is one netstring of netstrings);
Debian ships no QMQP client that can live beside postfix, the benchmark's
reference.
"""
import os
import re
import socket
import time
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, Instance, free_port, wait_for

HOST = "mx.qmqp.example"
HEADER = "# service type private unpriv chroot wakeup maxproc command\n"
INST = None
PORTS = {}
SOCKETS = {}


def ns(b):
    if isinstance(b, str):
        b = b.encode()
    return str(len(b)).encode() + b":" + b + b","


def packet(message, sender, rcpts):
    return ns(ns(message) + ns(sender) + b"".join(ns(r) for r in rcpts))


def read_reply(s):
    """The server's reply netstring, decoded: (status letter, text)."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        m = re.match(rb"(\d+):", data)
        if m and len(data) >= m.end() + int(m.group(1)) + 1:
            break
    m = re.match(rb"(\d+):", data)
    if not m:
        return None, data.decode(errors="replace")
    body = data[m.end():m.end() + int(m.group(1))]
    assert data[m.end() + int(m.group(1)):m.end() + int(m.group(1)) + 1] == b",", data
    return chr(body[0]), body[1:].decode(errors="replace")


def connect(service="open"):
    if service in SOCKETS:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(SOCKETS[service])
    else:
        s = socket.create_connection(("127.0.0.1", PORTS[service]))
    s.settimeout(30)
    return s


def send(data, service="open"):
    s = connect(service)
    try:
        s.sendall(data)
        return read_reply(s)
    finally:
        s.close()


def queued_id(text):
    m = re.match(r"Ok: queued as ([0-9A-Za-z]+)$", text)
    return m.group(1) if m else None


def postcat(qid, *flags):
    return INST.cmd("postcat", list(flags) + ["-q", qid]).stdout


def setUpModule():
    global INST
    INST = Instance("qmqpd", main_cf_extra=f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname, localhost
hopcount_limit = 5
qmqpd_error_delay = 0s
""" + NO_QMGR_FLOW)
    services = {
        # The default: nobody may use the service.
        "closed": "",
        "open": "-o qmqpd_authorized_clients=127.0.0.0/8",
        "byname": "-o qmqpd_authorized_clients=localhost",
        "negated": "-o {qmqpd_authorized_clients = !127.0.0.1, 127.0.0.0/8}",
        "small": "-o qmqpd_authorized_clients=127.0.0.1 -o message_size_limit=2000",
        "soft": "-o qmqpd_authorized_clients=127.0.0.1 -o soft_bounce=yes -o message_size_limit=2000",
        "ports": "-o qmqpd_authorized_clients=127.0.0.1 -o qmqpd_client_port_logging=yes",
        "slow": "-o qmqpd_authorized_clients=127.0.0.1 -o qmqpd_timeout=2s",
    }
    lines = [HEADER]
    for name, opts in services.items():
        PORTS[name] = free_port()
        lines.append(f"127.0.0.1:{PORTS[name]} inet n - n - - qmqpd {opts}\n")
    # A local reinjection service, as Postfix's "qmqp unix ... qmqpd".
    lines.append("qmqp unix n - n - - qmqpd -o qmqpd_authorized_clients=127.0.0.1\n")
    SOCKETS["local"] = os.path.join(INST.queue, "public", "qmqp")
    lines.append("cleanup unix n - n - 0 cleanup\n")
    lines.append("rewrite unix - - n - - trivial-rewrite\n")
    INST.write_master_cf("".join(lines))
    INST.start()
    wait_for(lambda: os.path.exists(SOCKETS["local"]), 10, what="the qmqp socket")


def tearDownModule():
    INST.cleanup()


class QmqpdTest(unittest.TestCase):
    def test_nobody_is_authorized_by_default(self):
        status, text = send(packet("Subject: closed\n\nx\n", "a@example.org", ["alice@" + HOST]), "closed")
        self.assertEqual(status, "D")
        self.assertEqual(text, "Error: localhost[127.0.0.1] is not authorized to use this service")
        self.assertEqual(INST.queued_with("Subject: closed"), [])

    def test_authorized_by_name_and_negation(self):
        status, text = send(packet("Subject: byname\n\nx\n", "a@example.org", ["alice@" + HOST]), "byname")
        self.assertEqual(status, "K", text)
        status, text = send(packet("Subject: negated\n\nx\n", "a@example.org", ["alice@" + HOST]), "negated")
        self.assertEqual((status, text), ("D", "Error: localhost[127.0.0.1] is not authorized to use this service"))

    def test_message_is_queued_as_postfix_does(self):
        msg = "Subject: two recipients\nMessage-ID: <q1@example.org>\n\nbody line\n"
        status, text = send(packet(msg, "list@example.org", ["alice@" + HOST, "bob@example.com"]))
        self.assertEqual(status, "K", text)
        qid = queued_id(text)
        self.assertTrue(qid, text)
        out = postcat(qid)
        self.assertIn("sender: list@example.org", out)
        self.assertIn(f"recipient: alice@{HOST}", out)
        self.assertIn("recipient: bob@example.com", out)
        # Two recipients: none named in the header (Bcc privacy), the date on a line of its own.
        self.assertRegex(out, rf"Received: from localhost \(localhost \[127\.0\.0\.1\]\)\n\s+by {re.escape(HOST)} "
                              rf"\(Postern\) with QMQP id {qid};\n\s+\w\w\w, ")
        self.assertNotIn("for <", out)
        self.assertIn("Subject: two recipients", out)
        self.assertIn("body line", out)
        self.assertIn("named_attribute: protocol_name=QMQP", postcat(qid, "-e"))
        INST.wait_log(rf"qmqpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]")
        INST.wait_log(rf"qmqpd\[\d+\]: {qid}: client=localhost\[127\.0\.0\.1\]")
        INST.wait_log(rf"cleanup\[\d+\]: {qid}: message-id=<q1@example\.org>")

    def test_one_recipient_is_named_and_null_sender(self):
        status, text = send(packet("Subject: one\n\nx\n", "", ["alice@" + HOST]))
        self.assertEqual(status, "K", text)
        qid = queued_id(text)
        out = postcat(qid)
        self.assertRegex(out, rf"with QMQP id {qid}\n\s+for <alice@{re.escape(HOST)}>; ")
        self.assertRegex(out, r"(?m)^sender: $")

    def test_empty_recipient_is_the_empty_address_recipient(self):
        status, text = send(packet("Subject: to nobody\n\nx\n", "a@example.org", [""]))
        self.assertEqual(status, "K", text)
        self.assertRegex(postcat(queued_id(text)), r"recipient: MAILER-DAEMON")

    def test_no_recipients_is_refused(self):
        status, text = send(packet("Subject: none\n\nx\n", "a@example.org", []))
        self.assertEqual(status, "D", text)
        self.assertIn("no recipients", text)
        self.assertEqual(INST.queued_with("Subject: none"), [])

    def test_from_line_and_leading_white_space(self):
        msg = "From list@example.org Mon Nov 23 17:32:24 2026\nSubject: mbox\n\nx\n"
        status, text = send(packet(msg, "a@example.org", ["alice@" + HOST]))
        self.assertEqual(status, "K", text)
        out = postcat(queued_id(text))
        self.assertIn("X-Mailbox-Line: From list@example.org Mon Nov 23 17:32:24 2026", out)
        self.assertNotRegex(out, r"(?m)^From ")
        # A message starting with white space cannot continue the Received: header.
        status, text = send(packet(" indented first line\nmore\n", "a@example.org", ["alice@" + HOST]))
        self.assertEqual(status, "K", text)
        out = postcat(queued_id(text), "-h")
        self.assertNotIn("indented first line", out)
        self.assertIn("indented first line", postcat(queued_id(text), "-b"))

    def test_too_many_hops(self):
        hops = "".join(f"Received: from h{i}.example by h{i}.example; Mon, 23 Nov 2026 00:00:0{i} +0000\n"
                       for i in range(6))
        status, text = send(packet(hops + "Subject: looping\n\nx\n", "a@example.org", ["alice@" + HOST]))
        self.assertEqual((status, text), ("D", "Error: too many hops"))
        INST.wait_log(r"qmqpd\[\d+\]: warning: \w+: localhost\[127\.0\.0\.1\]: Error: too many hops")
        self.assertEqual(INST.queued_with("Subject: looping"), [])

    def test_size_limit_and_soft_bounce(self):
        big = "Subject: big\n\n" + "y" * 3000 + "\n"
        status, text = send(packet(big, "a@example.org", ["alice@" + HOST]), "small")
        self.assertEqual(status, "D")
        self.assertEqual(text, "netstring length exceeds storage limit while receiving message content")
        status, text = send(packet(big, "a@example.org", ["alice@" + HOST]), "soft")
        self.assertEqual(status, "Z")
        self.assertEqual(INST.queued_with("Subject: big"), [])

    def test_malformed_request(self):
        status, text = send(b"30:5:hello;", "open")
        self.assertEqual((status, text), ("D", "netstring format error while receiving message content"))
        inner = ns("Subject: short\n\nx\n") + ns("a@example.org") + ns("alice@" + HOST)
        status, text = send(str(len(inner) + 3).encode() + b":" + inner + b",")
        self.assertEqual((status, text), ("D", "netstring format error while receiving recipient address"))
        self.assertEqual(INST.queued_with("Subject: short"), [])

    def test_verp_is_refused_for_later(self):
        status, text = send(packet("Subject: verp\n\nx\n", "list-return-@example.org-@[]", ["alice@" + HOST]))
        self.assertEqual(status, "Z")
        self.assertIn("VERP", text)
        INST.wait_log(r"warning: \w+: localhost\[127\.0\.0\.1\]: Error: VERP")
        self.assertEqual(INST.queued_with("Subject: verp"), [])

    def test_client_that_goes_away_leaves_nothing(self):
        s = connect()
        whole = packet("Subject: half\n\n" + "z" * 5000 + "\n", "a@example.org", ["alice@" + HOST])
        s.sendall(whole[:len(whole) // 2])
        time.sleep(0.3)
        s.close()
        INST.wait_log(r"qmqpd\[\d+\]: \w+: localhost\[127\.0\.0\.1\]: lost connection while receiving message content")
        self.assertEqual(INST.queued_with("Subject: half"), [])

    def test_client_that_stalls_times_out(self):
        s = connect("slow")
        whole = packet("Subject: stall\n\nx\n", "a@example.org", ["alice@" + HOST])
        s.sendall(whole[:-3])
        start = time.time()
        self.assertEqual(s.recv(100), b"")  # closed by the server
        self.assertLess(time.time() - start, 20)
        s.close()
        INST.wait_log(r"localhost\[127\.0\.0\.1\]: read/write timeout while receiving recipient address")
        self.assertEqual(INST.queued_with("Subject: stall"), [])

    def test_port_logging(self):
        s = connect("ports")
        port = s.getsockname()[1]
        s.sendall(packet("Subject: ports\n\nx\n", "a@example.org", ["alice@" + HOST]))
        status, text = read_reply(s)
        s.close()
        self.assertEqual(status, "K", text)
        INST.wait_log(rf"{queued_id(text)}: client=localhost\[127\.0\.0\.1\]:{port}")

    def test_local_socket_for_reinjection(self):
        status, text = send(packet("Subject: reinjected\n\nx\n", "a@example.org", ["alice@" + HOST]), "local")
        self.assertEqual(status, "K", text)
        self.assertIn("Received: from localhost (localhost [127.0.0.1])", postcat(queued_id(text)))

    def test_many_recipients_stream_through(self):
        rcpts = [f"user{i}@example.com" for i in range(3000)]
        status, text = send(packet("Subject: list\n\nx\n", "list@example.org", rcpts))
        self.assertEqual(status, "K", text)
        out = postcat(queued_id(text))
        self.assertIn("recipient: user0@example.com", out)
        self.assertIn("recipient: user2999@example.com", out)


if __name__ == "__main__":
    unittest.main()
