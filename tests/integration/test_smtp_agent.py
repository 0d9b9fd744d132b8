"""The smtp delivery agent end to end: the test plays qmgr.

Messages are submitted with the real sendmail (pickup and cleanup run, no
qmgr, so the queue file stays in incoming/); the test then sends
delivery_request messages to private/<service> itself (ipcwire.py) and
checks the per-recipient reply, the Postfix status lines in the log, and
what the servers saw. Servers: Postfix's smtp-sink and small Python SMTP
servers with scripted misbehaviour; DNS: dnsmasq on 127.0.0.1 with its own
port, and a UDP socket that never answers.
"""
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, SBIN, Instance, free_port, read_smtp_data, wait_for
from ipcwire import Connection
import queuegen

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def encode_rcpt(address, orig=None, orcpt=None, notify=0):
    out = b""
    for tag, val in (("a", address), ("p", orig), ("o", orcpt)):
        if val:
            v = val.encode()
            out += tag.encode() + str(len(v)).encode() + b":" + v
    if notify:
        v = str(notify).encode()
        out += b"n" + str(len(v)).encode() + b":" + v
    return out


class FakeSmtp:
    """A scripted SMTP server on 127.0.0.x:port, one thread per connection.

    behaviour keys: greeting (reply line(s)), ehlo (keyword list), rcpt
    (function address -> reply), mail (reply or "endless" or "stall"),
    after_data ("ok" | "drop"), lockstep_delay (seconds to wait before each
    reply while checking whether the client sent ahead).
    """

    def __init__(self, host="127.0.0.1", port=0, unix_path=None, **behaviour):
        self.b = behaviour
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            os.chmod(unix_path, 0o666)  # the agent runs as mail_owner
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = None if unix_path else self.sock.getsockname()[1]
        self.connections = 0
        self.peers = []  # the client's address of each connection
        self.commands = []
        self.messages = []
        self.sent_ahead = False
        self.stop = False
        self.conns = []
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(5)

    def accept_loop(self):
        while not self.stop:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.peers.append(peer[0] if isinstance(peer, tuple) else peer)
            self.conns.append(c)
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        try:
            self._session(c)
        except (OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _session(self, c):
        f = LineReader(c)
        b = self.b

        def reply(text):
            if b.get("lockstep_delay"):
                time.sleep(b["lockstep_delay"])
                if f.pending():
                    self.sent_ahead = True
            c.sendall(text.encode() + b"\r\n")

        c.sendall((b.get("greeting", "220 fake.test ESMTP") + "\r\n").encode())
        while True:
            line = f.readline(4096)
            if not line:
                return
            cmd = line.decode(errors="replace").rstrip("\r\n")
            self.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].upper().split(":")[0]
            if verb == "EHLO" and b.get("no_ehlo"):
                reply(b["no_ehlo"] if isinstance(b["no_ehlo"], str) else "502 5.5.2 Error: command not recognized")
            elif verb in ("EHLO", "LHLO"):
                kws = b.get("ehlo", ["PIPELINING", "SIZE 10240000", "8BITMIME", "DSN", "SMTPUTF8"])
                lines = [b.get("ehlo_name", "fake.test")] + kws
                c.sendall("".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}\r\n"
                                  for i, l in enumerate(lines)).encode())
            elif verb == "HELO":
                reply("250 fake.test")
            elif verb == "MAIL":
                m = b.get("mail", "250 2.1.0 Ok")
                if m == "endless":
                    chunk = b"250-" + b"x" * 200 + b"\r\n"
                    try:
                        while not self.stop:
                            c.sendall(chunk * 50)
                    except OSError:
                        return
                if m == "stall":
                    time.sleep(30)
                    return
                reply(m)
            elif verb == "RCPT":
                addr = cmd[cmd.find("<") + 1:cmd.find(">")]
                reply(b.get("rcpt", lambda a: "250 2.1.5 Ok")(addr))
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                data = read_smtp_data(f)
                if data is None:
                    return
                self.messages.append(data)
                if b.get("after_data") == "drop":
                    c.shutdown(socket.SHUT_RDWR)
                    return
                if b.get("lmtp"):
                    for _ in range(b["lmtp"]):
                        reply("250 2.0.0 Ok: delivered")
                else:
                    reply("250 2.0.0 Ok: queued as FAKE1")
            elif verb == "AUTH" and b.get("auth"):
                # b["auth"]: the base64 PLAIN response that is accepted.
                parts = cmd.split(" ")
                ok = len(parts) == 3 and parts[1].upper() == "PLAIN" and parts[2] == b["auth"]
                reply("235 2.7.0 Authentication successful" if ok else "535 5.7.8 Error: authentication failed")
            elif verb == "XFORWARD":
                reply(b.get("xforward", "250 2.0.0 Ok"))
            elif verb == "RSET":
                reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                reply("221 2.0.0 Bye")
                return
            else:
                reply("502 5.5.2 Error: command not recognized")


class LineReader:
    """readline() over a socket that can tell whether more input is waiting
    (buffered here or in the kernel): the client sent ahead of our reply."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self, limit):
        while b"\n" not in self.buf and len(self.buf) < limit:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        i = self.buf.find(b"\n")
        n = i + 1 if 0 <= i < limit else min(len(self.buf), limit)
        line, self.buf = self.buf[:n], self.buf[n:]
        return line

    def pending(self):
        if self.buf:
            return True
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return False


class SilentDns:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


class Dnsmasq:
    def __init__(self, records):
        self.port = free_port()
        args = [DNSMASQ, f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--keep-in-foreground", "--pid-file=",
                "--log-facility=-"]
        if os.geteuid() == 0:
            args += ["--user=root", "--group=root"]
        self.proc = subprocess.Popen(args + records, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers():
            q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x06\x00\x01"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(q, ("127.0.0.1", self.port))
                    return s.recv(512)
                except OSError:
                    return None
        wait_for(answers, timeout=10, what="dnsmasq")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


MX_PORT = free_port()


@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq not installed (scripts/install-deps.sh --test)")
class SmtpAgentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.silent = SilentDns()
        cls.dns = Dnsmasq([
            "--local=/test/",
            "--mx-host=order.test,mx1.order.test,10",
            "--mx-host=order.test,mx2.order.test,20",
            "--host-record=mx1.order.test,127.0.0.2",
            "--host-record=mx2.order.test,127.0.0.3",
            "--mx-host=dead.test,mx.dead.test,10",
            "--host-record=mx.dead.test,127.0.0.5",
            "--mx-host=noaddr.test,mx.noaddr.test,10",  # an MX host with no address
            # test_mail_loops: we are the best MX; we are a backup MX and the
            # better one has no address.
            "--mx-host=loop.test,mx.loop.test,10",
            "--host-record=mx.loop.test,127.0.0.1",
            "--mx-host=backup.test,mx1.backup.test,10",
            "--mx-host=backup.test,mx2.backup.test,20",
            "--host-record=mx2.backup.test,127.0.0.1",
        ])
        cls.fallback = FakeSmtp()
        # A relay host that refuses everyone (test_relayhost_refusal_defers).
        cls.refusing = FakeSmtp(greeting="554 5.7.1 no service for you")
        fast = "-o smtp_helo_timeout=1 -o smtp_mail_timeout=1 -o smtp_rcpt_timeout=1 -o smtp_data_done_timeout=1"
        master = ("# service type private unpriv chroot wakeup maxproc command\n"
                  "pickup unix n - n 60 1 pickup\n"
                  "cleanup unix n - n - 0 cleanup\n"
                  "rewrite unix - - n - - trivial-rewrite\n"
                  "smtp unix - - n - - smtp\n"
                  f"fast unix - - n - - smtp {fast}\n"
                  f"fallback unix - - n - - smtp -o smtp_fallback_relay=[127.0.0.1]:{cls.fallback.port}\n"
                  f"relayed unix - - n - - smtp -o relayhost=[127.0.0.1]:{cls.refusing.port}"
                  " -o smtp_skip_5xx_greeting=no\n"
                  f"badfallback unix - - n - - smtp -o smtp_fallback_relay=[127.0.0.1]:{cls.refusing.port}"
                  " -o smtp_skip_5xx_greeting=no\n"
                  "relayed2 unix - - n - - smtp -o smtp_skip_5xx_greeting=no\n"
                  f"silent unix - - n - - smtp -o dns_resolver_address=127.0.0.1:{cls.silent.port}"
                  " -o dns_resolver_timeout=1\n"
                  # Native host lookups: the system's resolver (the hosts
                  # file names localhost); the DNS server never answers.
                  f"native unix - - n - - smtp -o smtp_host_lookup=native -o dns_resolver_address=127.0.0.1:{cls.silent.port}"
                  " -o dns_resolver_timeout=1\n"
                  f"nodns unix - - n - - smtp -o disable_dns_lookups=yes -o dns_resolver_address=127.0.0.1:{cls.silent.port}"
                  " -o dns_resolver_timeout=1\n"
                  "xforward unix - - n - - smtp -o smtp_send_xforward_command=yes\n"
                  "notify unix - - n - - smtp -o notify_classes=protocol\n"
                  "lmtp unix - - n - - lmtp\n"
                  "lmtpfinal unix - - n - - lmtp -o lmtp_assume_final=yes\n"
                  # LMTP with SASL (the lmtp_sasl_* family); "noanonymous"
                  # lets PLAIN go without TLS.
                  "lmtpauth unix - - n - - lmtp -o lmtp_sasl_auth_enable=yes"
                  " -o lmtp_sasl_password_maps=inline:{127.0.0.1=bob:secret}"
                  " -o lmtp_sasl_security_options=noanonymous\n"
                  "bound unix - - n - - smtp -o smtp_bind_address=127.0.0.2\n"
                  "soft unix - - n - - smtp -o soft_bounce=yes\n"
                  "filtered unix - - n - - smtp -o smtp_reply_filter=regexp:${config_directory}/reply_filter\n"
                  "checked unix - - n - - smtp -o smtp_header_checks=regexp:${config_directory}/out_headers"
                  " -o smtp_body_checks=regexp:${config_directory}/out_body\n"
                  "generic unix - - n - - smtp -o smtp_generic_maps=regexp:${config_directory}/generic\n"
                  "mxdefer unix - - n - - smtp -o smtp_defer_if_no_mx_address_found=yes\n"
                  "noehlo unix - - n - - smtp -o smtp_always_send_ehlo=no\n"
                  "noconvert unix - - n - - smtp -o disable_mime_output_conversion=yes\n"
                  "cachedest unix - - n - - smtp -o smtp_connection_cache_destinations=127.0.0.1\n"
                  "nocache unix - - n - - smtp -o smtp_connection_cache_on_demand=no\n"
                  "dsnfilter unix - - n - - smtp"
                  " -o smtp_delivery_status_filter=regexp:${config_directory}/dsn_filter\n")
        extra = (f"daemon_directory = {os.path.abspath(LIBEXEC)}\ncommand_directory = {os.path.abspath(SBIN)}\n"
                 "myhostname = client.example.com\n"
                 f"dns_resolver_address = 127.0.0.1:{cls.dns.port}\n"
                 "smtp_connection_cache_time_limit = 10s\n" + NO_QMGR_FLOW)
        cls.inst = Instance("smtp", main_cf_extra=extra, master_cf=master)
        with open(cls.inst.path("reply_filter"), "w") as f:
            # test_reply_filter: a broken server's replies, made usable.
            f.write("/^250OK$/ 250 2.1.5 Ok\n"
                    "/^550 5\\.1\\.1 (.*try again later)$/ 450 4.2.0 $1\n")
        with open(cls.inst.path("out_headers"), "w") as f:
            # test_output_checks: what leaves the host is cleaned.
            f.write("/^Received: .*/ IGNORE\n/^X-Internal:/ STRIP internal\n/^Subject: (.*)/ REPLACE Subject: [ext] $1\n")
        with open(cls.inst.path("generic"), "w") as f:
            # test_generic_maps: addresses valid only here, made public.
            f.write("/^sender([0-9]+)@example\\.com$/ out$1@public.example\n"
                    "/^inside@example\\.net$/ outside@example.org\n")
        with open(cls.inst.path("dsn_filter"), "w") as f:
            # test_delivery_status_filter
            f.write("/^5\\.1\\.1 (.*mailbox moving.*)/ 4.2.1 $1\n")
        with open(cls.inst.path("out_body"), "w") as f:
            f.write("/^secret line$/ REPLACE [removed]\n")
        try:
            cls.inst.start()
            wait_for(lambda: os.path.exists(os.path.join(cls.inst.queue, "private", "smtp")), what="private/smtp")
        except Exception:
            cls.inst.cleanup()
            cls.dns.close()
            cls.silent.close()
            cls.fallback.close()
            cls.refusing.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()
        cls.dns.close()
        cls.silent.close()
        cls.fallback.close()
        cls.refusing.close()

    # --- helpers ----------------------------------------------------------
    def server(self, **kw):
        s = FakeSmtp(**kw)
        self.addCleanup(s.close)
        return s

    def submit(self, body="Subject: test\n\nhello\n.leading dot\n", args=()):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        sender = f"sender{time.monotonic_ns()}@example.com"
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", self.inst.dir, "-f", sender] + list(args)
                           + ["rcpt@example.net"], input=body, capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = self.inst.wait_log(r"postern/pickup\[\d+\]: (\w+): uid=\d+ from=<" + re.escape(sender) + ">", timeout=30)
        qid = m.group(1)
        path = os.path.join(self.inst.queue, "incoming", qid)
        wait_for(lambda: os.path.exists(path) and os.stat(path).st_mode & 0o100, timeout=30, what="queue file")
        return qid, sender

    # The flags of a delivery request: by default the on-demand connection
    # caching flags (4: take a cached session, 8: keep it), as qmgr sends
    # them while a destination gets mail back to back.
    CACHE = 4 | 8

    def deliver(self, qid, nexthop, rcpts, service="smtp", flags=CACHE):
        now = int(time.time() * 1e6)
        with Connection(os.path.join(self.inst.queue, "private", service), timeout=60) as c:
            t, a = c.call("delivery_request", [
                ("queue_name", "incoming"), ("queue_id", qid), ("nexthop", nexthop), ("flags", flags),
                ("arrival_usec", now), ("active_usec", now),
                ("recipients", [r if isinstance(r, bytes) else encode_rcpt(r) for r in rcpts])])
        self.assertEqual(t, "delivery_reply", a)
        return a

    def status_line(self, qid, rcpt, status):
        return self.inst.wait_log(r"(?m)" + re.escape(f"{qid}: to=<{rcpt}>") + r", .*status=" + status + r" \(.*\)$")

    # --- tests ------------------------------------------------------------
    def test_bind_address(self):
        srv = self.server()
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{srv.port}", ["a@example.net"], service="bound")
        self.assertEqual(a["dsn"], ["2.0.0"])
        self.assertEqual(srv.peers, ["127.0.0.2"])

    def test_soft_bounce_reports_a_deferral(self):
        srv = self.server(rcpt=lambda addr: "550 5.1.1 no such user")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{srv.port}", ["nobody@example.net"], service="soft")
        self.assertEqual(a["dsn"], ["4.1.1"])
        self.status_line(qid, "nobody@example.net", "SOFTBOUNCE")
        self.inst.wait_log(re.escape(f"{qid}: to=<nobody@example.net>") + r", .*dsn=4\.1\.1, status=SOFTBOUNCE "
                           r"\(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 no such user")

    @unittest.skipUnless(os.path.exists(SMTP_SINK), "smtp-sink not installed (scripts/install-deps.sh --test)")
    def test_smtp_sink_delivery(self):
        port = free_port()
        # smtp-sink refuses to run as root without -u (it drops to that user).
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([SMTP_SINK] + user + [f"127.0.0.1:{port}", "10"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (sink.terminate(), sink.wait()))

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, what="smtp-sink")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{port}", ["a@example.net", "b@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0", "2.0.0"], a)
        self.assertEqual(a["site_failure"], 0)
        self.assertTrue(a["text"][0].startswith("250"), a)
        self.assertEqual(a["relay"][0], f"127.0.0.1[127.0.0.1]:{port}")
        line = self.status_line(qid, "a@example.net", "sent").group(0)
        self.assertRegex(line, r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, delay=[\d.]+, "
                               r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent \(250 ")
        # The queue file is untouched: still there, recipient not marked done.
        self.assertTrue(os.path.exists(os.path.join(self.inst.queue, "incoming", qid)))

    def test_recipient_replies_and_content(self):
        def rcpt(a):
            if a.startswith("bad"):
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % a
            if a.startswith("later"):
                return "451 4.2.0 try again"
            return "250 2.1.5 Ok"
        s = self.server(rcpt=rcpt)
        qid, sender = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["ok@example.net", "bad@example.net", "later@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0", "5.1.1", "4.2.0"], a)
        host = "127.0.0.1[127.0.0.1]"
        self.assertEqual(a["text"][1],
                         f"host {host} said: 550 5.1.1 <bad@example.net>: Recipient address rejected: "
                         "User unknown (in reply to RCPT TO command)")
        self.status_line(qid, "bad@example.net", "bounced")
        self.status_line(qid, "later@example.net", "deferred")
        self.status_line(qid, "ok@example.net", "sent")
        self.assertEqual(len(s.messages), 1)
        body = s.messages[0]
        self.assertIn(b"\r\n\r\nhello\r\n..leading dot\r\n", body)
        self.assertTrue(any(c.startswith(f"MAIL FROM:<{sender}> SIZE=") for c in s.commands), s.commands)

    def test_long_lines_are_broken_at_smtp_line_length_limit(self):
        # 998 by default: a 2500-byte body line goes out as 998 + 997 + 505
        # bytes, each continuation behind a space; a 998-byte line as it is.
        s = self.server()
        qid, _ = self.submit(body="Subject: long\n\n" + "a" * 2500 + "\n" + "b" * 998 + "\nend\n")
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["ok@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        body = s.messages[0]
        self.assertIn(b"\r\n\r\n" + b"a" * 998 + b"\r\n " + b"a" * 997 + b"\r\n " + b"a" * 505 + b"\r\n"
                      + b"b" * 998 + b"\r\nend\r\n", body)
        self.assertTrue(all(len(l) <= 998 for l in body.split(b"\r\n")))

    def test_greeting_4xx_then_next_mx(self):
        first = self.server(host="127.0.0.2", port=MX_PORT, greeting="421 4.3.2 busy")
        second = self.server(host="127.0.0.3", port=MX_PORT)
        qid, _ = self.submit()
        a = self.deliver(qid, f"order.test:{MX_PORT}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(a["relay"], [f"mx2.order.test[127.0.0.3]:{MX_PORT}"])
        self.assertEqual(first.connections, 1)
        self.assertEqual(second.connections, 1)
        self.assertEqual(len(second.messages), 1)

    def test_all_mx_refuse_then_fallback_relay(self):
        qid, _ = self.submit()
        a = self.deliver(qid, f"dead.test:{free_port()}", ["x@example.net"], service="fallback")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(a["relay"], [f"127.0.0.1[127.0.0.1]:{self.fallback.port}"])

    def test_unknown_domain_still_tries_the_fallback_relay(self):
        # Postfix: a hard lookup error is not final before the fallback
        # relays were tried; they may know a way.
        qid, _ = self.submit()
        a = self.deliver(qid, "nosuch.test", ["x@example.net"], service="fallback")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(a["relay"], [f"127.0.0.1[127.0.0.1]:{self.fallback.port}"])

    def test_relayhost_refusal_defers(self):
        # A permanent refusal by the relay host or a fallback relay is a
        # configuration problem: the mail waits (4.3.5), as in Postfix.
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{self.refusing.port}", ["x@example.net"], service="relayed")
        self.assertEqual(a["dsn"], ["4.3.5"], a)
        self.assertIn("no service for you", a["text"][0])
        self.inst.wait_log(r"warning: relayhost configuration problem")
        a = self.deliver(qid, "nosuch.test", ["y@example.net"], service="badfallback")
        self.assertEqual(a["dsn"], ["4.3.5"], a)
        self.inst.wait_log(r"warning: smtp_fallback_relay configuration problem")
        # The same refusal from a destination's own server bounces.
        a = self.deliver(qid, f"[127.0.0.1]:{self.refusing.port}", ["z@example.net"], service="relayed2")
        self.assertEqual(a["dsn"], ["5.7.1"], a)

    def test_mail_loops(self):
        """Postfix's loop checks, for SMTP to port 25: an address of ours
        among a destination's servers, or a server that greets us with our
        own name."""
        qid, _ = self.submit()
        a = self.deliver(qid, "loop.test", ["a@loop.test"])
        self.assertEqual((a["dsn"], a["text"]), (["5.4.6"], ["mail for loop.test loops back to myself"]), a)
        a = self.deliver(qid, "backup.test", ["b@backup.test"])
        self.assertEqual((a["dsn"], a["text"]), (["4.4.4"], ["unable to find primary relay for backup.test"]), a)
        a = self.deliver(qid, "[127.0.0.1]:25", ["c@example.net"])
        self.assertEqual(a["dsn"], ["5.4.6"], a)
        self.assertIn("loops back to myself", a["text"][0])
        # Another port of this host (a content filter, a relay) is no loop.
        srv = self.server()
        a = self.deliver(qid, f"[127.0.0.1]:{srv.port}", ["d@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        try:
            me = FakeSmtp(host="127.0.0.7", port=25, ehlo_name="client.example.com")
        except OSError as e:
            self.skipTest(f"cannot listen on 127.0.0.7:25: {e}")
        self.addCleanup(me.close)
        a = self.deliver(qid, "[127.0.0.7]", ["e@example.net"])
        self.assertEqual((a["dsn"], a["text"]), (["5.4.6"], ["mail for [127.0.0.7] loops back to myself"]), a)
        self.inst.wait_log(r"warning: host 127\.0\.0\.7\[127\.0\.0\.7\]:25 replied to HELO/EHLO with my own "
                           r"hostname client\.example\.com")

    def test_connection_refused_defers_with_site_failure(self):
        qid, _ = self.submit()
        port = free_port()
        a = self.deliver(qid, f"[127.0.0.1]:{port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["4.4.1"], a)
        self.assertEqual(a["site_failure"], 1)
        self.assertEqual(a["text"], [f"connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused"])
        self.assertEqual(a["relay"], ["none"])
        self.status_line(qid, "x@example.net", "deferred")

    def test_nxdomain_bounces_and_silent_dns_defers(self):
        qid, _ = self.submit()
        a = self.deliver(qid, "nosuch.test", ["x@example.net"])
        self.assertEqual(a["dsn"], ["5.4.4"], a)
        self.assertTrue(a["text"][0].startswith("Host or domain name not found. "), a)
        t0 = time.monotonic()
        a = self.deliver(qid, "example.org", ["y@example.net"], service="silent")
        self.assertEqual(a["dsn"], ["4.4.3"], a)
        self.assertEqual(a["site_failure"], 1)
        self.assertLess(time.monotonic() - t0, 15)

    def test_native_host_lookups(self):
        srv = self.server()
        qid, _ = self.submit()
        # smtp_host_lookup = native: [localhost] from the hosts file, while
        # the DNS-only service (same silent DNS) cannot find it.
        a = self.deliver(qid, f"[localhost]:{srv.port}", ["a@example.net"], service="native")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.inst.wait_log(re.escape(f"{qid}: to=<a@example.net>, relay=localhost[127.0.0.1]:{srv.port}") +
                           r", .*status=sent")
        b = self.deliver(qid, f"[localhost]:{srv.port}", ["b@example.net"], service="silent")
        self.assertEqual(b["dsn"], ["4.4.3"], b)
        # disable_dns_lookups = yes: no MX lookup even for a bare domain.
        c = self.deliver(qid, f"localhost:{srv.port}", ["c@example.net"], service="nodns")
        self.assertEqual(c["dsn"], ["2.0.0"], c)
        self.assertEqual(len(srv.messages), 2)

    def test_xforward(self):
        # smtp_send_xforward_command: before each MAIL FROM, the attributes
        # the server offers, from the queue file (here a local submission:
        # no client address).
        srv = self.server(ehlo=["PIPELINING", "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT", "8BITMIME"])
        qid, _ = self.submit()
        for rcpt in ("a@example.net", "b@example.net"):
            a = self.deliver(qid, f"[127.0.0.1]:{srv.port}", [rcpt], service="xforward")
            self.assertEqual(a["dsn"], ["2.0.0"], a)
        xf = [c for c in srv.commands if c.upper().startswith("XFORWARD")]
        self.assertEqual(len(xf), 2, srv.commands)  # once per transaction, on the reused session too
        self.assertIn(f"IDENT={qid}", xf[0])
        self.assertIn("SOURCE=LOCAL", xf[0])
        self.assertIn("ADDR=[UNAVAILABLE]", xf[0])
        for i, c in enumerate(srv.commands):
            if c.upper().startswith("XFORWARD"):
                self.assertTrue(srv.commands[i + 1].upper().startswith("MAIL FROM"), srv.commands)
        # Not offered: not sent. Refused: the message waits.
        plain = self.server()
        a = self.deliver(qid, f"[127.0.0.1]:{plain.port}", ["c@example.net"], service="xforward")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertFalse([c for c in plain.commands if c.upper().startswith("XFORWARD")])
        bad = self.server(ehlo=["XFORWARD NAME ADDR"], xforward="421 4.7.0 not now")
        a = self.deliver(qid, f"[127.0.0.1]:{bad.port}", ["d@example.net"], service="xforward")
        self.assertEqual(a["dsn"], ["4.7.0"], a)
        self.assertIn("(in reply to XFORWARD command)", a["text"][0])

    def test_protocol_errors_mail_the_postmaster_a_transcript(self):
        # notify_classes = protocol: a server reply that breaks the protocol
        # (a 50x syntax error, a line that is no reply) gets the delivery's
        # transcript mailed to the postmaster, as Postfix's smtp_chat_notify.
        # The notice is queued before the agent answers the request.
        tag = f"X{os.getpid()}X{time.time_ns()}X"
        syntax = self.server(rcpt=lambda a: f"500 5.5.1 {tag}syntax")
        qid, sender = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{syntax.port}", ["a@example.net"], service="notify")
        self.assertEqual(a["dsn"], ["5.5.1"], a)
        found = self.inst.queued_with(f"{tag}syntax")
        self.assertEqual(len(found), 1, found)
        text = self.inst.cmd("postcat", ["-q", found[0]]).stdout
        self.assertRegex(text, r"(?m)^sender: double-bounce@")
        self.assertRegex(text, r"(?m)^recipient: postmaster(@\S+)?$")
        self.assertIn(f"Subject: Postern SMTP client: errors from 127.0.0.1[127.0.0.1]:{syntax.port}", text)
        self.assertIn(f"Unexpected response from 127.0.0.1[127.0.0.1]:{syntax.port}.", text)
        self.assertIn(" In:  220 fake.test ESMTP", text)
        self.assertIn(" Out: EHLO client.example.com", text)
        self.assertIn(" In:  250-fake.test", text)
        self.assertIn(f" Out: MAIL FROM:<{sender}>", text)
        self.assertIn(" Out: RCPT TO:<a@example.net>", text)
        self.assertIn(f" In:  500 5.5.1 {tag}syntax", text)
        self.assertNotIn("hello", text)  # never the content

        # A line that is no SMTP reply.
        garbage = self.server(greeting=f"hello {tag}garbage")
        a = self.deliver(qid, f"[127.0.0.1]:{garbage.port}", ["b@example.net"], service="notify")
        self.assertEqual(a["dsn"][0][0], "4", a)
        found = self.inst.queued_with(f"{tag}garbage")
        self.assertEqual(len(found), 1, found)
        self.assertIn(f" In:  hello {tag}garbage", self.inst.cmd("postcat", ["-q", found[0]]).stdout)

        # An ordinary refusal is no protocol error; and with notify_classes'
        # default (resource, software) the client sends nothing at all.
        refusing = self.server(rcpt=lambda a: f"550 5.1.1 {tag}unknown")
        a = self.deliver(qid, f"[127.0.0.1]:{refusing.port}", ["c@example.net"], service="notify")
        self.assertEqual(a["dsn"], ["5.1.1"], a)
        a = self.deliver(qid, f"[127.0.0.1]:{syntax.port}", ["d@example.net"], service="smtp")
        self.assertEqual(a["dsn"], ["5.5.1"], a)
        self.assertEqual(self.inst.queued_with(f"{tag}unknown"), [])
        self.assertEqual(len(self.inst.queued_with(f"{tag}syntax")), 1)

    def test_mx_host_without_address(self):
        qid, _ = self.submit()
        a = self.deliver(qid, "noaddr.test", ["x@example.net"])
        self.assertEqual(a["dsn"], ["5.4.4"], a)
        # smtp_defer_if_no_mx_address_found = yes: kept and retried.
        b = self.deliver(qid, "noaddr.test", ["y@example.net"], service="mxdefer")
        self.assertEqual(b["dsn"], ["4.4.4"], b)
        self.assertTrue(b["text"][0].startswith("Host or domain name not found. "), b)
        # A domain that does not exist still bounces.
        c = self.deliver(qid, "nosuch.test", ["z@example.net"], service="mxdefer")
        self.assertEqual(c["dsn"], ["5.4.4"], c)

    def test_reply_filter(self):
        # smtp_reply_filter: each reply line as received, replaced before it
        # is read: a malformed one fixed, a wrong 5xx made a 4xx.
        s = self.server(rcpt=lambda a: "250OK" if a.startswith("ok") else "550 5.1.1 busy, try again later")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["ok@example.net", "busy@example.net"], service="filtered")
        self.assertEqual(a["dsn"], ["2.0.0", "4.2.0"], a)
        self.assertIn("busy, try again later", a["text"][1])
        self.inst.wait_log(r'127\.0\.0\.1\[127\.0\.0\.1\]:\d+: replacing server reply "250OK" with "250 2\.1\.5 Ok"')
        # Without the filter the same server's reply is malformed.
        qid2, _ = self.submit()
        b = self.deliver(qid2, f"[127.0.0.1]:{s.port}", ["ok@example.net"], service="fast")
        self.assertEqual(b["dsn"][0][:1], "4", b)
        self.assertIn("malformed", b["text"][0])

    def test_output_checks(self):
        s = self.server()
        qid, _ = self.submit(body="Subject: hello\nX-Internal: 10.0.0.7\nX-Other: kept\n\nfirst\nsecret line\nlast\n")
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["x@example.net"], service="checked")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        text = s.messages[0].decode()
        self.assertNotIn("Received:", text)   # ours, added by cleanup: dropped
        self.assertNotIn("X-Internal", text)
        self.assertIn("Subject: [ext] hello\r\n", text)
        self.assertIn("X-Other: kept\r\n", text)
        self.assertIn("\r\n\r\nfirst\r\n[removed]\r\nlast\r\n", text)
        self.inst.wait_log(rf"{qid}: strip: header X-Internal: 10\.0\.0\.7: internal")
        self.inst.wait_log(rf"{qid}: replace: header Subject: hello: Subject: \[ext\] hello")

    def test_generic_maps(self):
        s = self.server()
        qid, sender = self.submit(body="To: inside@example.net, other@example.net\nSubject: sender@example.com\n\nhi\n")
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["inside@example.net", "other@example.net"], service="generic")
        self.assertEqual(a["dsn"], ["2.0.0", "2.0.0"], a)
        public = "out" + sender[len("sender"):sender.index("@")] + "@public.example"
        self.assertTrue(next(c for c in s.commands if c.startswith("MAIL")).startswith(f"MAIL FROM:<{public}>"))
        rcpts = [c for c in s.commands if c.startswith("RCPT")]
        self.assertEqual([r.split()[1] for r in rcpts], ["TO:<outside@example.org>", "TO:<other@example.net>"])
        text = s.messages[0].decode()
        self.assertIn("To: outside@example.org, other@example.net\r\n", text)
        self.assertRegex(text, rf"(?m)^From: .*<{re.escape(public)}>\r$")
        self.assertIn("Subject: sender@example.com\r\n", text)  # not an address header
        # The log keeps the original recipient.
        self.status_line(qid, "inside@example.net", "sent")

    def test_delivery_status_filter(self):
        s = self.server(rcpt=lambda a: "550 5.1.1 mailbox moving, try later" if a.startswith("moving")
                        else "550 5.1.1 no such user")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["moving@example.net", "gone@example.net"],
                         service="dsnfilter")
        self.assertEqual(a["dsn"], ["4.2.1", "5.1.1"], a)
        self.status_line(qid, "moving@example.net", "deferred")
        self.assertRegex(self.inst.maillog(), rf"{qid}: to=<moving@example\.net>.*dsn=4\.2\.1, status=deferred")
        self.status_line(qid, "gone@example.net", "bounced")

    def test_endless_multiline_reply_defers(self):
        s = self.server(mail="endless")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["x@example.net"], service="fast")
        self.assertEqual(a["dsn"][0][:1], "4", a)
        self.assertIn("malformed or oversized reply", a["text"][0])

    def test_drop_after_data_defers(self):
        s = self.server(after_data="drop")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["x@example.net"], service="fast")
        self.assertEqual(a["dsn"], ["4.4.2"], a)
        self.assertIn("lost connection with 127.0.0.1[127.0.0.1] while sending end of data", a["text"][0])

    def test_stall_times_out_and_defers(self):
        s = self.server(mail="stall")
        qid, _ = self.submit()
        t0 = time.monotonic()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["x@example.net"], service="fast")
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(a["dsn"], ["4.4.2"], a)
        self.assertEqual(a["text"][0],
                         "conversation with 127.0.0.1[127.0.0.1] timed out while sending MAIL FROM")

    def test_pipelining_off_waits_for_each_reply(self):
        s = self.server(ehlo=["SIZE 10240000", "8BITMIME"], lockstep_delay=0.05)
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["x@example.net", "y@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0", "2.0.0"], a)
        self.assertFalse(s.sent_ahead, s.commands)
        # And with PIPELINING offered, MAIL/RCPT/DATA arrive in one go.
        p = self.server(lockstep_delay=0.05)
        a = self.deliver(qid, f"[127.0.0.1]:{p.port}", ["x@example.net", "y@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0", "2.0.0"], a)
        self.assertTrue(p.sent_ahead, p.commands)

    def test_dsn_parameters_passed_on(self):
        s = self.server()
        qid, sender = self.submit(args=["-R", "hdrs", "-V", "env42"])
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}",
                         [encode_rcpt("x@example.net", orig="orig@example.net", notify=2 | 4)])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        mail = [c for c in s.commands if c.startswith("MAIL")][0]
        self.assertIn(" RET=HDRS", mail)
        self.assertIn(" ENVID=env42", mail)
        rcpt = [c for c in s.commands if c.startswith("RCPT")][0]
        self.assertEqual(rcpt, "RCPT TO:<x@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.net")
        # The server took the request over: it, not we, reports success.
        self.assertEqual(a["action"], ["none"], a)
        # Without DSN on offer, no DSN parameters; our notice says "relayed".
        n = self.server(ehlo=["PIPELINING"])
        a = self.deliver(qid, f"[127.0.0.1]:{n.port}", [encode_rcpt("x@example.net", orig="o@example.net", notify=2)])
        self.assertEqual([c for c in n.commands if c.startswith(("MAIL", "RCPT"))],
                         [f"MAIL FROM:<{sender}>", "RCPT TO:<x@example.net>"])
        self.assertEqual(a["action"], ["relayed"], a)

    def test_ehlo_only_to_esmtp_greetings(self):
        # smtp_always_send_ehlo = no: HELO unless the greeting says ESMTP.
        plain = self.server(greeting="220 old.test Sendmail ready")
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{plain.port}", ["x@example.net"], service="noehlo")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(plain.commands[0].split(" ")[0], "HELO")
        esmtp = self.server(greeting="220 new.test esmtp ready")
        a = self.deliver(qid, f"[127.0.0.1]:{esmtp.port}", ["x@example.net"], service="noehlo")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(esmtp.commands[0].split(" ")[0], "EHLO")
        # The default sends EHLO whatever the greeting says.
        again = self.server(greeting="220 old.test Sendmail ready")
        self.deliver(qid, f"[127.0.0.1]:{again.port}", ["x@example.net"])
        self.assertEqual(again.commands[0].split(" ")[0], "EHLO")

    def test_helo_fallback_and_8bitmime(self):
        old = self.server(no_ehlo=True)
        # (An ASCII subject: a UTF-8 one would make this SMTPUTF8 mail, below.)
        qid, sender = self.submit(body="Subject: cafe\n\nna\u00efve\n", args=["-B", "8BITMIME"])
        a = self.deliver(qid, f"[127.0.0.1]:{old.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual([c.split(" ")[0] for c in old.commands[:3]], ["EHLO", "HELO", "MAIL"])
        self.assertIn(f"MAIL FROM:<{sender}>", old.commands)  # no ESMTP parameters after HELO
        # Any refusal of EHLO but 421 gets HELO (Postfix's rule), a 4xx too.
        temp = self.server(no_ehlo="450 4.7.1 not now")
        a = self.deliver(qid, f"[127.0.0.1]:{temp.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual([c.split(" ")[0] for c in temp.commands[:3]], ["EHLO", "HELO", "MAIL"])
        new = self.server()
        a = self.deliver(qid, f"[127.0.0.1]:{new.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn(" BODY=8BITMIME", [c for c in new.commands if c.startswith("MAIL")][0])
        self.assertIn("na\u00efve".encode(), new.messages[0])

    def test_8bit_entities_converted_for_a_server_without_8bitmime(self):
        body = ("Subject: x\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 8bit\n\ncaf\u00e9 = ok\n.dot\n")
        qid, _ = self.submit(body=body)  # no -B: cleanup takes the header for it
        mail_cmd = lambda srv: [c for c in srv.commands if c.startswith("MAIL")][0]
        seven = self.server(ehlo=["PIPELINING", "SIZE 10240000", "DSN"])
        a = self.deliver(qid, f"[127.0.0.1]:{seven.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        data = seven.messages[0]
        # The 8bit header goes; the new one ends the header section (after
        # the headers cleanup added for the local submission).
        self.assertIn(b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =3D ok\r\n..dot\r\n", data)
        self.assertNotIn(b"8bit", data)
        self.assertTrue(all(c < 128 for c in data), data)
        self.assertNotIn(" BODY=", mail_cmd(seven))
        # A server with 8BITMIME gets the content as stored, declared 8BITMIME.
        eight = self.server()
        a = self.deliver(qid, f"[127.0.0.1]:{eight.port}", ["y@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn(" BODY=8BITMIME", mail_cmd(eight))
        self.assertIn(b"Content-Transfer-Encoding: 8bit\r\n", eight.messages[0])
        self.assertIn("\r\n\r\ncaf\u00e9 = ok\r\n".encode(), eight.messages[0])
        # disable_mime_output_conversion = yes: as stored, to anyone.
        raw = self.server(ehlo=["PIPELINING"])
        a = self.deliver(qid, f"[127.0.0.1]:{raw.port}", ["z@example.net"], service="noconvert")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn("caf\u00e9 = ok".encode(), raw.messages[0])
        # Declared 7BIT: passed on as such, and never converted.
        qid7, _ = self.submit(body="Subject: y\n\nplain\n", args=["-B", "7BIT"])
        s7 = self.server()
        a = self.deliver(qid7, f"[127.0.0.1]:{s7.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn(" BODY=7BIT", mail_cmd(s7))

    def test_smtputf8_mail_with_utf8_headers_needs_smtputf8(self):
        # Postfix's rule: mail that asked for SMTPUTF8 goes to a server without
        # it only when its envelope and headers are ASCII.
        incoming = os.path.join(self.inst.queue, "incoming")
        st = os.stat(incoming)
        qid = queuegen.write_message(self.inst.queue, "incoming", "s@example.com", ["x@example.net"],
                                     ["Subject: caf\u00e9", "", "body"], uid=st.st_uid, gid=st.st_gid,
                                     attrs=[("smtputf8", "yes"), ("utf8_headers", "yes")])
        old = self.server(ehlo=["PIPELINING", "8BITMIME"])
        a = self.deliver(qid, f"[127.0.0.1]:{old.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["5.6.7"], a)
        self.assertFalse([c for c in old.commands if c.startswith("MAIL")])
        new = self.server()
        a = self.deliver(qid, f"[127.0.0.1]:{new.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn(" SMTPUTF8", [c for c in new.commands if c.startswith("MAIL")][0])
        # All ASCII, SMTPUTF8 asked for all the same: any server will do.
        plain = queuegen.write_message(self.inst.queue, "incoming", "s@example.com", ["x@example.net"],
                                       ["Subject: x", "", "body"], uid=st.st_uid, gid=st.st_gid,
                                       attrs=[("smtputf8", "yes")])
        old2 = self.server(ehlo=["PIPELINING", "8BITMIME"])
        a = self.deliver(plain, f"[127.0.0.1]:{old2.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        # A sendmail submission with a UTF-8 header is SMTPUTF8 mail
        # (smtputf8_autodetect_classes = sendmail, verify: Postfix's default);
        # a UTF-8 body alone is not.
        qid8, _ = self.submit(body="Subject: caf\u00e9\n\nna\u00efve\n")
        old3 = self.server(ehlo=["PIPELINING", "8BITMIME"])
        a = self.deliver(qid8, f"[127.0.0.1]:{old3.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["5.6.7"], a)
        new3 = self.server()
        a = self.deliver(qid8, f"[127.0.0.1]:{new3.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn(" SMTPUTF8", [c for c in new3.commands if c.startswith("MAIL")][0])
        qidb, _ = self.submit(body="Subject: cafe\n\nna\u00efve\n")
        old4 = self.server(ehlo=["PIPELINING", "8BITMIME"])
        a = self.deliver(qidb, f"[127.0.0.1]:{old4.port}", ["x@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)

    def test_connection_reuse(self):
        s = self.server()
        qid, _ = self.submit()
        for r in ("one@example.net", "two@example.net"):
            a = self.deliver(qid, f"[127.0.0.1]:{s.port}", [r])
            self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(s.connections, 1)
        self.assertEqual(len(s.messages), 2)
        self.assertEqual(sum(1 for c in s.commands if c.startswith("EHLO")), 1)

    def test_connection_cache_policy(self):
        # Postfix's smtp_cache_policy(): without qmgr's caching flags the
        # session ends with QUIT after the delivery; a destination listed in
        # smtp_connection_cache_destinations (its bare name: no [] or port)
        # is cached all the same; smtp_connection_cache_on_demand = no
        # ignores the flags.
        qid, _ = self.submit()
        # (Store without load: the second delivery does not look in the
        # cache and connects anew.)
        for service, flags, connections, stored in (("smtp", 0, 2, False), ("cachedest", 0, 1, True),
                                                    ("nocache", self.CACHE, 2, False), ("smtp", 8, 2, True)):
            s = self.server()
            for r in ("one@example.net", "two@example.net"):
                a = self.deliver(qid, f"[127.0.0.1]:{s.port}", [r], service=service, flags=flags)
                self.assertEqual(a["dsn"], ["2.0.0"], a)
            self.assertEqual(s.connections, connections, (service, flags))
            self.assertEqual(len(s.messages), 2)
            if not stored:  # each session said goodbye at once
                wait_for(lambda: sum(1 for c in s.commands if c.upper() == "QUIT") == 2, timeout=10,
                         what=f"QUIT after each uncached session ({service}, {flags})")

    def test_one_ipc_connection_carries_several_requests(self):
        # qmgr sends its next delivery on the connection it kept
        # (ipc/proto/deliver.h); each reply says the agent will read more.
        s = self.server()
        qid, _ = self.submit()
        now = int(time.time() * 1e6)
        with Connection(os.path.join(self.inst.queue, "private", "smtp"), timeout=60) as c:
            for r in ("first@example.net", "second@example.net"):
                t, a = c.call("delivery_request", [
                    ("queue_name", "incoming"), ("queue_id", qid), ("nexthop", f"[127.0.0.1]:{s.port}"),
                    ("flags", 0), ("arrival_usec", now), ("active_usec", now), ("recipients", [encode_rcpt(r)])])
                self.assertEqual((t, a["dsn"], a["closing"]), ("delivery_reply", ["2.0.0"], 0), a)
        self.assertEqual(len(s.messages), 2)
        for r in ("first@example.net", "second@example.net"):
            self.status_line(qid, r, "sent")

    def test_cached_session_closed_by_server_is_retried(self):
        s = self.server()
        qid, _ = self.submit()
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["one@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        for c in list(s.conns):  # the server hangs up the idle session
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        time.sleep(0.2)
        a = self.deliver(qid, f"[127.0.0.1]:{s.port}", ["two@example.net"])
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertEqual(s.connections, 2)

    def test_lmtp_one_reply_per_recipient(self):
        s = self.server(lmtp=2)
        qid, _ = self.submit()
        a = self.deliver(qid, f"inet:127.0.0.1:{s.port}", ["x@example.net", "y@example.net"], service="lmtp")
        self.assertEqual(a["dsn"], ["2.0.0", "2.0.0"], a)
        self.assertTrue(any(c.startswith("LHLO client.example.com") for c in s.commands), s.commands)
        # Success notices: the server offers DSN, so it reports; without DSN
        # "relayed", or "delivered" with lmtp_assume_final = yes (Postfix).
        self.assertEqual(a["action"], ["none", "none"], a)
        plain = self.server(lmtp=1, ehlo=["PIPELINING"])
        a = self.deliver(qid, f"inet:127.0.0.1:{plain.port}", ["x@example.net"], service="lmtp")
        self.assertEqual(a["action"], ["relayed"], a)
        a = self.deliver(qid, f"inet:127.0.0.1:{plain.port}", ["x@example.net"], service="lmtpfinal")
        self.assertEqual(a["action"], ["delivered"], a)

    def test_lmtp_sasl(self):
        import base64
        good = base64.b64encode(b"\0bob\0secret").decode()
        s = self.server(lmtp=1, ehlo=["PIPELINING", "AUTH PLAIN LOGIN"], auth=good)
        qid, _ = self.submit()
        a = self.deliver(qid, f"inet:127.0.0.1:{s.port}", ["x@example.net"], service="lmtpauth")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertIn(f"AUTH PLAIN {good}", s.commands)
        self.assertLess(s.commands.index(f"AUTH PLAIN {good}"),
                        [i for i, c in enumerate(s.commands) if c.startswith("MAIL FROM")][0])
        # Refused credentials: a failure of that server, retried later.
        wrong = self.server(lmtp=1, ehlo=["AUTH PLAIN"], auth="something-else")
        a = self.deliver(qid, f"inet:127.0.0.1:{wrong.port}", ["y@example.net"], service="lmtpauth")
        self.assertEqual(a["dsn"], ["4.7.8"], a)
        self.assertIn("SASL authentication failed", a["text"][0])
        # Without lmtp_sasl_auth_enable, no AUTH.
        plain = self.server(lmtp=1, ehlo=["AUTH PLAIN"], auth=good)
        a = self.deliver(qid, f"inet:127.0.0.1:{plain.port}", ["z@example.net"], service="lmtp")
        self.assertEqual(a["dsn"], ["2.0.0"], a)
        self.assertFalse([c for c in plain.commands if c.startswith("AUTH")])

    def test_lmtp_unix_socket(self):
        path = os.path.join(self.inst.root, "lmtp.sock")
        s = self.server(unix_path=path, lmtp=1, rcpt=lambda a: "550 5.1.1 no such user" if a.startswith("no") else "250 2.1.5 Ok")
        qid, _ = self.submit()
        a = self.deliver(qid, f"unix:{path}", ["x@example.net", "nobody@example.net"], service="lmtp")
        self.assertEqual(a["dsn"], ["2.0.0", "5.1.1"], a)
        self.assertEqual(a["relay"][0], path)

    def test_malformed_request_refused(self):
        with Connection(os.path.join(self.inst.queue, "private", "smtp")) as c:
            t, a = c.call("delivery_request", [("queue_name", "incoming"), ("queue_id", "../../etc/passwd"),
                                               ("nexthop", "x"), ("flags", 0), ("arrival_usec", 0),
                                               ("active_usec", 0), ("recipients", [encode_rcpt("x@y")])])
        self.assertEqual(t, "delivery_reply", a)
        self.assertEqual(a["dsn"], ["4.3.0"])


if __name__ == "__main__":
    unittest.main()
