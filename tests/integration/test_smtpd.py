"""smtpd end to end: real master, smtpd and cleanup on a scratch instance.

Clients are Python's smtplib and raw sockets (for what smtplib will not send:
smuggling sequences, NUL/CR, pipelining violations). Messages are checked in
the queue with postcat; log lines are checked in the instance's maillog.
127.0.0.1 is OUTSIDE mynetworks (192.0.2.0/24) unless a service overrides it.
"""
import os
import signal
import re
import shutil
import smtplib
import socket
import socketserver
import subprocess
import threading
import time
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, Instance, free_port, port_open, queued_id, wait_for
from harness import SmtpClient as Raw

HOST = "mx.test.example"
HEADER = "# service type private unpriv chroot wakeup maxproc command\n"
# daemon_directory: the build's libexec (the default of a build-tree instance),
# spelled out so that a composite build directory works too.
MAIN_CF = f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname, localhost
mynetworks = 192.0.2.0/24
recipient_delimiter = +
relay_domains = relay.test.example
local_recipient_maps = inline:{{alice=x, bob=x, carol=x}}
relocated_maps = inline:{{ {{dave@{HOST} = dave@new.example}} }}
anvil_status_update_time = 1s
# test_restriction_classes: a table result names the class, whose list
# uses a table of its own.
smtpd_restriction_classes = from_watchlist
from_watchlist = check_client_access inline:{{{{127.0.0.1=REJECT watched client}}}}
"""
LOCAL = f"alice@{HOST}"

PORTS = {}
SERVICES = {
    "main": "",
    "big": "-o smtpd_recipient_limit=2000 -o message_size_limit=0",
    "small": "-o message_size_limit=100000",
    "strictutf8": "-o strict_smtputf8=yes",
    "strict": "-o smtpd_timeout=2s -o smtpd_hard_error_limit=3",
    "soft": "-o smtpd_soft_error_limit=1 -o smtpd_error_sleep_time=1s",
    "junk": "-o smtpd_junk_command_limit=2 -o smtpd_hard_error_limit=3",
    "novrfy": "-o disable_vrfy_command=yes",
    # Postmaster notices of sessions with errors (notify_classes).
    "notify": "-o notify_classes=protocol,policy",
    # Behind a load balancer that speaks HAProxy's PROXY protocol.
    "proxied": "-o smtpd_upstream_proxy_protocol=haproxy -o smtpd_peername_lookup=no"
               " -o smtpd_upstream_proxy_timeout=2s",
    "notifyflush": "-o notify_classes=protocol -o smtpd_history_flush_threshold=4",
    "trusted": "-o mynetworks=127.0.0.0/8",
    # The after-filter smtpd of a content filter (amavis) setup.
    "xforward": "-o smtpd_authorized_xforward_hosts=127.0.0.0/8",
    # A proxy (or a test tool) in front that speaks for its clients.
    "xclient": "-o smtpd_authorized_xclient_hosts=127.0.0.0/8",
    "reject": "-o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination",
    "pregreet": "",
    "conn": "-o smtpd_client_connection_count_limit=2",
    # One client per smtpd process (max_use 1): the count must hold across processes.
    "connmulti": "-o smtpd_client_connection_count_limit=2 -o max_use=1",
    "rate": "-o smtpd_client_connection_rate_limit=2",
    "msgrate": "-o smtpd_client_message_rate_limit=2",
    "rcptrate": "-o smtpd_client_recipient_rate_limit=3",
    "unlsender": "-o smtpd_reject_unlisted_sender=yes",
    # smtpd_delay_reject = no: client, HELO and sender restrictions at their own commands.
    "early": ("-o smtpd_delay_reject=no -o smtpd_client_restrictions=check_client_access,inline:{127.0.0.9=REJECT} "
              "-o smtpd_helo_restrictions=check_helo_access,inline:{bad.helo.test=REJECT} "
              "-o smtpd_sender_restrictions=check_sender_access,inline:{nomail@client.test=REJECT} "
              "-o smtpd_reject_unlisted_sender=yes"),
    # smtpd_reject_footer is not $-expanded when main.cf is read, here neither.
    "footer": "-o {smtpd_reject_footer = \\c. Help: 555-0101, quote $client_address.\\nServer: $server_name}",
    "datar": "-o smtpd_data_restrictions=check_sender_access,inline:{nodata@client.test=REJECT}",
    # warn_if_reject: the relay check only logs (a test setup, not a relay).
    "warnrej": "-o smtpd_relay_restrictions=warn_if_reject,reject_unauth_destination,permit",
    "warnrejsoft": "-o smtpd_relay_restrictions=warn_if_reject,reject_unauth_destination,permit -o soft_bounce=yes",
    # The client's reverse name (localhost for 127.0.0.1), unverified.
    "revaccess": ("-o {smtpd_client_restrictions = check_reverse_client_hostname_access "
                  "inline:{{localhost=REJECT reverse name refused}}}"),
    "eod": "-o smtpd_end_of_data_restrictions=check_sender_access,inline:{noend@client.test=REJECT}",
    "nospace": "-o queue_minfree=1000000000000000",
    "noanvil": "-o smtpd_client_connection_count_limit=1 -o anvil_service_name=no-such-anvil",
    "nolookup": "-o smtpd_peername_lookup=no",
    "norewrite": "-o rewrite_service_name=no-such-rewrite",
    "relayrcpt": "-o relay_recipient_maps=inline:{known@relay.test.example=x} -o mynetworks=127.0.0.0/8",
    "nocheck": ("-o relay_recipient_maps=inline:{known@relay.test.example=x} "
                "-o receive_override_options=no_unknown_recipient_checks"),
    # "rdns" (a DNS server naming 127.0.0.2) is added when dnsmasq exists.
}
RDNS_NAME = "mail.rdns.test"
DNSMASQ = None



def find_dnsmasq():
    for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]:
        f = os.path.join(d, "dnsmasq")
        if d and os.access(f, os.X_OK):
            return f
    return None


def start_dnsmasq():
    """dnsmasq on 127.0.0.1:<free port> with a PTR for 127.0.0.1 and the
    matching A record (forward-confirmed); its port, or None."""
    global DNSMASQ
    binary = find_dnsmasq()
    if not binary:
        return None
    for _ in range(5):
        port = free_port()
        args = [binary, f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                "--no-hosts", "--conf-file=/dev/null", "--keep-in-foreground", "--pid-file=",
                "--log-facility=-", f"--ptr-record=2.0.0.127.in-addr.arpa,{RDNS_NAME}",
                f"--host-record={RDNS_NAME},127.0.0.2",
                # For reject_unknown_sender_domain: a domain with an MX, one
                # with only an address, and one the server says does not exist.
                "--mx-host=mx.good.test,mail.good.test,10", "--host-record=a.good.test,127.0.0.5",
                # permit_mx_backup: this host (127.0.0.1) is backup.test's
                # second MX, and primary.test's first.
                "--mx-host=backup.test,mx1.backup.test,10", "--mx-host=backup.test,mx2.backup.test,20",
                "--host-record=mx1.backup.test,192.0.2.10", "--host-record=mx2.backup.test,127.0.0.1",
                "--mx-host=primary.test,mx1.primary.test,10", "--mx-host=primary.test,mx2.primary.test,20",
                "--host-record=mx1.primary.test,127.0.0.1", "--host-record=mx2.primary.test,192.0.2.11",
                "--local=/nx.test/",
                # check_sender_mx_access: a name without MX records (an A record only).
                "--local=/lo.test/", "--host-record=nomx.lo.test,127.0.0.6",
                # DNS block lists: bl.test lists 127.0.0.2 (with a reason) and
                # 127.0.0.3 with a result outside the service's filter;
                # dbl.test lists the domain spam.test. nobl.test has no
                # server (REFUSED: a lookup failure).
                "--local=/bl.test/", "--address=/2.0.0.127.bl.test/127.0.0.2",
                "--txt-record=2.0.0.127.bl.test,Listed by bl.test",
                "--txt-record=2.0.0.127.bl.test,see https://bl.test/2",
                "--address=/3.0.0.127.bl.test/127.0.0.12",
                "--local=/dbl.test/", "--address=/spam.test.dbl.test/127.0.1.2",
                # An allow list naming 127.0.0.4, which bl.test lists too.
                "--local=/wl.test/", "--address=/4.0.0.127.wl.test/127.0.0.2",
                "--address=/4.0.0.127.bl.test/127.0.0.2"]
        if os.geteuid() == 0:
            args += ["--user=root", "--group=root"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 5
        while time.time() < deadline and proc.poll() is None:
            if dns_answers(port):
                DNSMASQ = proc
                return port
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return None


def dns_answers(port):
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + \
        b"".join(bytes([len(p)]) + p for p in b"2.0.0.127.in-addr.arpa".split(b".")) + b"\x00\x00\x0c\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    try:
        s.sendto(q, ("127.0.0.1", port))
        return len(s.recv(512)) > 12
    except OSError:
        return False
    finally:
        s.close()


class PolicyServer(socketserver.ThreadingTCPServer):
    """A policy server (Postfix's delegation protocol) on 127.0.0.1: answers
    by the recipient's local part (greylist@: 450, reject@: REJECT, else
    DUNNO) and records every request with the connection it came on."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.requests = []  # (connection number, {name: value})
        self.connections = 0
        super().__init__(("127.0.0.1", 0), PolicyHandler)


class PolicyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        srv = self.server
        srv.connections += 1
        conn = srv.connections
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if not line:
                    break
                name, _, value = line.partition("=")
                attrs[name] = value
            srv.requests.append((conn, attrs))
            local = attrs.get("recipient", "").split("@")[0]
            if local == "silent":
                continue  # never answers: smtpd's timeout must end the wait
            if local == "flood":
                self.wfile.write(b"x=y\n" * 40000)  # 160 KB without the empty line
                continue
            action = {"greylist": "450 4.2.0 Greylisted, see http://postgrey.example/",
                      "reject": "REJECT not welcome here"}.get(local, "DUNNO")
            self.wfile.write(f"action={action}\n\n".encode())


POLICY = None


def setUpModule():
    global INST, POLICY
    INST = Instance("smtpd", main_cf_extra=MAIN_CF + NO_QMGR_FLOW)
    POLICY = PolicyServer()
    threading.Thread(target=POLICY.serve_forever, daemon=True).start()
    dead = free_port()  # nothing listens there
    SERVICES["policy"] = ("-o {smtpd_recipient_restrictions = check_policy_service "
                          f"inet:127.0.0.1:{POLICY.server_address[1]}}}")
    SERVICES["policyshort"] = ("-o {smtpd_recipient_restrictions = check_policy_service { "
                               f"inet:127.0.0.1:{POLICY.server_address[1]}, timeout=1s, try_limit=1, "
                               "{default_action = 450 4.7.1 policy unavailable} }}")
    SERVICES["policydead"] = ("-o {smtpd_recipient_restrictions = check_policy_service { "
                              f"inet:127.0.0.1:{dead}, timeout=2s, retry_delay=1s }}}}")
    dns_port = start_dnsmasq()
    if dns_port:
        SERVICES["rdns"] = f"-o dns_resolver_address=127.0.0.1:{dns_port}"
        SERVICES["unkdomain"] = (f"-o dns_resolver_address=127.0.0.1:{dns_port} -o smtpd_peername_lookup=no "
                                 "-o smtpd_sender_restrictions=reject_unknown_sender_domain "
                                 "-o smtpd_helo_restrictions=reject_unknown_helo_hostname")
        mxb = (f"-o dns_resolver_address=127.0.0.1:{dns_port} -o smtpd_peername_lookup=no "
               "-o {smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination}")
        SERVICES["mxbackup"] = mxb
        SERVICES["mxbackupin"] = mxb + " -o permit_mx_backup_networks=192.0.2.0/28"
        SERVICES["mxbackupout"] = mxb + " -o permit_mx_backup_networks=198.51.100.0/24"
        # check_sender_mx_access: a sender domain whose mail exchanger is on
        # a loopback address (backup.test's second MX is 127.0.0.1).
        SERVICES["mxaccess"] = (f"-o dns_resolver_address=127.0.0.1:{dns_port} -o smtpd_peername_lookup=no "
                                "-o {smtpd_sender_restrictions = check_sender_mx_access "
                                "inline:{{127=REJECT mail exchanger on a loopback address}}}")
        SERVICES["rbl"] = (f"-o dns_resolver_address=127.0.0.1:{dns_port} -o smtpd_peername_lookup=no "
                           "-o {smtpd_recipient_restrictions = reject_multi_recipient_bounce, "
                           "permit_dnswl_client wl.test, reject_rbl_client bl.test=127.0.0.[2..11], "
                           "reject_rbl_client nobl.test, reject_rhsbl_sender dbl.test, reject_unauth_destination}")
    # An access(5) table built by our postmap, as an admin would.
    access = INST.path("sender_access")
    with open(access, "w") as f:
        f.write("spam@example.net   REJECT no spam from you\n"
                "example.org        550 5.7.1 go away\n"
                "friend@example.org OK\n"
                "watched@example.net WARN sender under watch\n"
                "held@example.net   HOLD\n"
                "gone@example.net   DISCARD spam source\n"
                "tagged@example.net PREPEND X-Tagged: by the sender table\n"
                "untagged@example.net PREPEND no header here\n"
                f"copied@example.net BCC audit@{HOST}\n")
    INST.cmd("postmap", [f"hash:{access}"])
    # smtpd_command_filter: a last-resort fix for broken clients.
    cmd_filter = INST.path("command_filter")
    with open(cmd_filter, "w") as f:
        f.write("/^(RCPT\\s+TO:\\s*<[^>]*>)\\s+BROKEN=\\S+(.*)/ $1$2\n"
                "/^XYZZY$/ NOOP\n")
    SERVICES["cmdfilter"] = f"-o smtpd_command_filter=regexp:{cmd_filter}"
    SERVICES["classes"] = ("-o {smtpd_sender_restrictions = check_sender_access "
                           "inline:{ {watch@example.net=from_watchlist} }}")
    SERVICES["access"] = (f"-o {{smtpd_sender_restrictions = check_sender_access hash:{access}}} "
                          "-o smtpd_helo_restrictions=reject_non_fqdn_helo_hostname")
    lines = [HEADER]
    for name, opts in SERVICES.items():
        PORTS[name] = free_port()
        maxproc = "1" if name == "conn" else "-"
        lines.append(f"127.0.0.1:{PORTS[name]} inet n - n - {maxproc} smtpd {opts}\n")
    lines.append("cleanup unix n - n - 0 cleanup\n")
    if os.path.exists(os.path.join(LIBEXEC, "trivial-rewrite")):
        lines.append("rewrite unix - - n - - trivial-rewrite\n")
    lines.append("anvil unix - - n - 1 anvil\n")
    INST.write_master_cf("".join(lines))
    INST.start()


def tearDownModule():
    keep = os.environ.get("SMTPD_TEST_KEEP_LOG")
    if keep:
        shutil.copy(INST.path("maillog"), keep)
    INST.cleanup()
    if POLICY:
        POLICY.shutdown()
        POLICY.server_close()
    if DNSMASQ:
        DNSMASQ.kill()
        DNSMASQ.wait()


def postcat(qid):
    return INST.cmd("postcat", ["-q", qid]).stdout


def smtp_pids(name):
    """smtpd processes serving the service of that name (master.cf line)."""
    port = str(PORTS[name])
    return {pid for pid, argv in INST.processes().items()
            if argv and argv[0].endswith("smtpd") and any(port in a for a in argv)}


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def queued_with(marker):
    return INST.queued_with(marker)


class SmtpdTest(unittest.TestCase):
    def transaction(self, port, rcpts=(LOCAL,), body="Subject: hi\r\n\r\nhello\r\n", source="127.0.0.1"):
        c = Raw(port, source=source)
        self.assertTrue(c.ask("EHLO client.test").startswith("250"))
        self.assertTrue(c.ask("MAIL FROM:<sender@client.test>").startswith("250 2.1.0"))
        for r in rcpts:
            self.assertTrue(c.ask(f"RCPT TO:<{r}>").startswith("250 2.1.5"), r)
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send(body + ".\r\n")
        r = c.reply()
        c.ask("QUIT")
        c.close()
        return r

    def queue_fine(self, c):
        """One more transaction on `c` that goes through, then QUIT."""
        self.assertTrue(c.ask("MAIL FROM:<fine@client.test>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        self.assertTrue(c.ask("Subject: ok\r\n\r\nbody\r\n.").startswith("250 2.0.0 Ok: queued as"))
        c.ask("QUIT")
        c.close()

    def test_first_lines_cannot_join_our_received_header(self):
        """Postfix's rules: leading "From " lines become X-Mailbox-Line:
        headers, and a first other line that starts with white space gets an
        empty line before it: it is the body's, not a continuation of our
        Received: header."""
        r = self.transaction(PORTS["main"], body="From someone@client.test Mon Dec  7 03:00:00 2026\r\n"
                                                 ">From quoted\r\n"
                                                 "  (by forged.example with ESMTP)\r\n"
                                                 "Subject: fold\r\n\r\nbody\r\n")
        qid = queued_id(r)
        self.assertTrue(qid, r)
        text = postcat(qid)
        self.assertRegex(text, r"(?m)^X-Mailbox-Line: From someone@client\.test Mon Dec  7 03:00:00 2026\n"
                               r"X-Mailbox-Line: >From quoted\n")
        # The headers end (cleanup adds its own before the end), the body
        # begins with the indented line.
        self.assertRegex(text, r"\n\n  \(by forged\.example with ESMTP\)\nSubject: fold\n")
        received = re.search(r"(?ms)^Received: .*?(?=^\S)", text).group(0)
        self.assertNotIn("forged.example", received)

    def test_xforward(self):
        # Not authorized: not offered, refused.
        c = Raw(PORTS["main"])
        self.assertNotIn("XFORWARD", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("XFORWARD NAME=spike.example"), "550 5.7.0 Error: insufficient authorization")
        c.close()
        c = Raw(PORTS["xforward"])
        self.assertIn("250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("XFORWARD NAME=spike.example ADDR=192.0.2.7 PROTO=ESMTP"), "250 2.0.0 Ok")
        self.assertEqual(c.ask("XFORWARD HELO=spike.example IDENT=ABC123 PORT=4025"), "250 2.0.0 Ok")
        self.assertEqual(c.ask("XFORWARD ADDR=not-an-address"), "501 5.5.4 Bad ADDR syntax: not-an-address")
        self.assertEqual(c.ask("XFORWARD COLOR=blue"), "501 5.5.4 Bad XFORWARD attribute name: COLOR")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        self.assertEqual(c.ask("XFORWARD NAME=other.example"), "503 5.5.1 Error: MAIL transaction in progress")
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        r = c.ask("Subject: fwd\r\n\r\nbody\r\n.")
        qid = queued_id(r)
        self.assertTrue(qid, r)
        # Postfix's line for log analyzers; the forwarded client is the
        # message's, the Received: header the real connection's.
        INST.wait_log(rf"{qid}: client=localhost\[127\.0\.0\.1\], orig_queue_id=ABC123, "
                      r"orig_client=spike\.example\[192\.0\.2\.7\]")
        out = INST.cmd("postcat", ["-e", "-q", qid]).stdout
        self.assertIn("named_attribute: client_name=spike.example", out)
        self.assertIn("named_attribute: client_address=192.0.2.7", out)
        self.assertIn("named_attribute: helo_name=spike.example", out)
        self.assertRegex(postcat(qid), r"Received: from client\.test \(localhost \[127\.0\.0\.1\]\)")
        # The next transaction starts without them.
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        qid2 = queued_id(c.ask("Subject: own\r\n\r\nbody\r\n."))
        INST.wait_log(rf"(?m){qid2}: client=localhost\[127\.0\.0\.1\]$")
        c.ask("QUIT")
        c.close()

    def test_xclient(self):
        # Not authorized: not offered, refused.
        c = Raw(PORTS["main"])
        self.assertNotIn("XCLIENT", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("XCLIENT ADDR=192.0.2.7"), "550 5.7.0 Error: insufficient authorization")
        c.close()
        relay = "RCPT TO:<someone@elsewhere.example>"
        c = Raw(PORTS["xclient"])
        self.assertIn("250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
                      c.ask("EHLO client.test"))
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        self.assertIn("Relay access denied", c.ask(relay))  # 127.0.0.1 is outside mynetworks here
        self.assertEqual(c.ask("XCLIENT ADDR=192.0.2.7"), "503 5.5.1 Error: MAIL transaction in progress")
        self.assertTrue(c.ask("RSET").startswith("250"))
        # A bad attribute changes nothing.
        self.assertEqual(c.ask("XCLIENT NAME=spike.example ADDR=not-an-address"),
                         "501 5.5.4 Bad ADDR syntax: not-an-address")
        self.assertEqual(c.ask("XCLIENT NAME=bad_name!"), "501 5.5.4 Bad NAME syntax: bad_name!")
        self.assertEqual(c.ask("XCLIENT COLOR=blue"), "501 5.5.4 Bad XCLIENT attribute name: COLOR")
        self.assertEqual(c.ask("XCLIENT PROTO=UUCP"), "501 5.5.4 Bad PROTO syntax: UUCP")
        # The identity of a client in mynetworks: a new greeting, then relaying.
        self.assertTrue(c.ask("XCLIENT NAME=spike.example ADDR=192.0.2.7 PORT=4025").startswith("220 "))
        self.assertTrue(c.ask("EHLO spike.example").startswith("250"))
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        self.assertTrue(c.ask(relay).startswith("250"), "relay from mynetworks")
        self.assertTrue(c.ask("DATA").startswith("354"))
        qid = queued_id(c.ask("Subject: xclient\r\n\r\nbody\r\n."))
        self.assertTrue(qid)
        # The message is the simulated client's: log, Received:, queue file.
        INST.wait_log(rf"(?m){qid}: client=spike\.example\[192\.0\.2\.7\]$")
        self.assertRegex(postcat(qid), r"Received: from spike\.example \(spike\.example \[192\.0\.2\.7\]\)")
        out = INST.cmd("postcat", ["-e", "-q", qid]).stdout
        self.assertIn("named_attribute: client_address=192.0.2.7", out)
        self.assertIn("named_attribute: client_port=4025", out)
        # An outside address: denied again, and logged under that client.
        self.assertTrue(c.ask("XCLIENT NAME=[TEMPUNAVAIL] ADDR=IPv6:2001:db8::5 HELO=fake.helo").startswith("220 "))
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))  # HELO= stands for HELO
        self.assertIn("Relay access denied", c.ask(relay))
        INST.wait_log(r"NOQUEUE: reject: RCPT from unknown\[2001:db8::5\]: \S+ \S+ <someone@elsewhere\.example>: "
                      r"Relay access denied; from=<s@client\.test> to=<someone@elsewhere\.example> proto=SMTP "
                      r"helo=<fake\.helo>")
        self.assertTrue(c.ask("RSET").startswith("250"))
        # LOGIN: an authenticated client (permit_sasl_authenticated).
        self.assertTrue(c.ask("XCLIENT LOGIN=alice PROTO=ESMTP").startswith("220 "))
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        self.assertTrue(c.ask(relay).startswith("250"), "relay for a login")
        c.ask("QUIT")
        c.close()
        INST.wait_log(r"disconnect from unknown\[2001:db8::5\] ehlo=2 xclient=3/8 mail=4 rcpt=2/4 data=1 rset=2 quit=1 "
                      r"commands=15/22")

    # --- client name and trivial-rewrite ------------------------------------
    def test_client_name_from_dns(self):
        if "rdns" not in PORTS:
            self.skipTest("dnsmasq not installed")
        # 127.0.0.2: not in /etc/hosts (which smtpd reads first, as
        # getnameinfo() does for Postfix), so its name must come from DNS.
        r = self.transaction(PORTS["rdns"], source="127.0.0.2")
        qid = queued_id(r)
        self.assertTrue(qid, r)
        out = postcat(qid)
        self.assertRegex(out, rf"Received: from client\.test \({re.escape(RDNS_NAME)} \[127\.0\.0\.2\]\)")
        INST.wait_log(rf"{qid}: client={re.escape(RDNS_NAME)}\[127\.0\.0\.2\]")
        INST.wait_log(rf"connect from {re.escape(RDNS_NAME)}\[127\.0\.0\.2\]")
        # 127.0.0.1 is named by the hosts file, without asking DNS.
        r = self.transaction(PORTS["rdns"])
        qid = queued_id(r)
        INST.wait_log(rf"{qid}: client=localhost\[127\.0\.0\.1\]")

    def test_no_peername_lookup_gives_unknown(self):
        r = self.transaction(PORTS["nolookup"])
        qid = queued_id(r)
        self.assertTrue(qid, r)
        self.assertRegex(postcat(qid), r"Received: from client\.test \(unknown \[127\.0\.0\.1\]\)")
        INST.wait_log(rf"{qid}: client=unknown\[127\.0\.0\.1\]")

    def test_resolver_unavailable_defers_recipients(self):
        c = Raw(PORTS["norewrite"])
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<sender@client.test>").startswith("250"))
        self.assertEqual(c.ask(f"RCPT TO:<{LOCAL}>"),
                         f"451 4.3.0 <{LOCAL}>: Recipient address rejected: Temporary lookup failure")
        self.assertEqual(c.ask("RCPT TO:<someone@elsewhere.example>"),
                         "451 4.3.0 <someone@elsewhere.example>: Recipient address rejected: "
                         "Temporary lookup failure")
        c.ask("QUIT")
        c.close()
        INST.wait_log(r"warning: .*address resolver for alice@mx\.test\.example: ")
        INST.wait_log(rf"NOQUEUE: reject: RCPT from \S+: 451 4\.3\.0 <{re.escape(LOCAL)}>")

    # --- basics --------------------------------------------------------------
    def test_greeting_ehlo_and_queue_file(self):
        s = smtplib.SMTP(timeout=20)
        self.assertEqual(s.connect("127.0.0.1", PORTS["main"]), (220, f"{HOST} ESMTP Postern".encode()))
        code, msg = s.ehlo("client.test")
        self.assertEqual(code, 250)
        for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "dsn", "smtputf8", "chunking", "vrfy"):
            self.assertTrue(s.has_extn(kw), kw)
        self.assertEqual(s.esmtp_features["size"], "10240000")
        self.assertEqual(s.mail("sender@client.test", ["BODY=8BITMIME", "RET=HDRS", "ENVID=abc"])[0], 250)
        self.assertEqual(s.rcpt(LOCAL, ["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{LOCAL}"])[0], 250)
        code, msg = s.data(b"Subject: hello there\r\n\r\nbody line\r\n.dotted\r\n")
        self.assertEqual(code, 250)
        msg = msg.decode()
        self.assertTrue(msg.startswith("2.0.0 Ok: queued as "), msg)
        qid = queued_id(msg)
        s.quit()
        out = postcat(qid)
        self.assertIn("sender: sender@client.test", out)
        self.assertIn(f"recipient: {LOCAL}", out)
        self.assertIn("Subject: hello there", out)
        self.assertIn("\n.dotted", out)
        self.assertRegex(out, r"Received: from client\.test \(localhost \[127\.0\.0\.1\]\)")
        self.assertRegex(out, rf"by {re.escape(HOST)} \(Postern\) with ESMTP id {qid}")
        self.assertIn(f"for <{LOCAL}>", out)
        # Received comes first in the content.
        content = out.split("*** MESSAGE CONTENTS", 1)[1].split("\n", 1)[1]
        self.assertTrue(content.startswith("Received: from client.test"), content[:200])
        INST.wait_log(rf"{qid}: client=localhost\[127\.0\.0\.1\]")
        INST.wait_log(r"connect from localhost\[127\.0\.0\.1\]")
        INST.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")

    def test_helo_session_and_commands(self):
        c = Raw(PORTS["main"])
        self.assertEqual(c.ask("HELO client.test"), f"250 {HOST}")
        self.assertEqual(c.ask("NOOP"), "250 2.0.0 Ok")
        self.assertEqual(c.ask("RSET"), "250 2.0.0 Ok")
        self.assertEqual(c.ask("RCPT TO:<a@b>"), "503 5.5.1 Error: need MAIL command")
        self.assertEqual(c.ask("DATA"), "503 5.5.1 Error: need MAIL command")
        self.assertEqual(c.ask("MAIL FROM:<>"), "250 2.1.0 Ok")
        self.assertEqual(c.ask("MAIL FROM:<>"), "503 5.5.1 Error: nested MAIL command")
        self.assertEqual(c.ask("DATA"), "503 5.5.1 Error: need RCPT command")
        self.assertEqual(c.ask("RCPT TO:<nobody@" + HOST + ">")[:9], "550 5.1.1")
        self.assertEqual(c.ask("DATA"), "554 5.5.1 Error: no valid recipients")
        self.assertEqual(c.ask("XYZZY"), "502 5.5.2 Error: command not recognized")
        self.assertEqual(c.ask("RSET"), "250 2.0.0 Ok")
        self.assertEqual(c.ask("MAIL FROM:<bad address@x>"), "501 5.1.7 Bad sender address syntax")
        # Without SMTPUTF8 a UTF-8 domain is bad syntax, as in Postfix.
        self.assertEqual(c.ask("MAIL FROM:<x@j\u00f6rg.example>"), "501 5.1.7 Bad sender address syntax")
        self.assertEqual(c.ask("QUIT"), "221 2.0.0 Bye")
        c.close()
        INST.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] helo=1 mail=1/4 rcpt=0/2 data=0/3 rset=2 "
                      r"noop=1 quit=1 unknown=0/1 commands=6/15")

    def test_utf8_local_parts_without_smtputf8(self):
        # Postfix's default (strict_smtputf8 = no): a UTF-8 local part passes
        # without SMTPUTF8, as clients sent them before it; the message is
        # not marked SMTPUTF8. Invalid UTF-8 and UTF-8 domains do not pass.
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        self.assertEqual(c.ask("MAIL FROM:<j\u00f6rg@client.test>"), "250 2.1.0 Ok")
        self.assertEqual(c.ask(f"RCPT TO:<{LOCAL}>")[:3], "250")
        self.assertEqual(c.ask("RCPT TO:<x@b\u00fccher.example>"), "501 5.1.3 Bad recipient address syntax")
        self.assertEqual(c.ask("DATA")[:3], "354")
        reply = c.ask("Subject: utf8\r\n\r\nold style\r\n.")
        self.assertTrue(reply.startswith("250"), reply)
        out = INST.cmd("postcat", ["-q", queued_id(reply)]).stdout
        self.assertIn("sender: j\u00f6rg@client.test", out)
        c.send(b"MAIL FROM:<j\xf6rg@client.test>\r\n")  # Latin-1, not UTF-8: as Postfix
        self.assertEqual(c.reply(), "500 5.5.2 Error: bad UTF-8 syntax")
        c.close()
        # strict_smtputf8 = yes: 553 5.6.7 for any 8-bit address without it.
        c = Raw(PORTS["strictutf8"])
        c.ask("EHLO client.test")
        self.assertEqual(c.ask("MAIL FROM:<j\u00f6rg@client.test>"),
                         "553 5.6.7 Must declare SMTPUTF8 to send unicode address")
        self.assertEqual(c.ask("MAIL FROM:<s@client.test>"), "250 2.1.0 Ok")
        self.assertEqual(c.ask("RCPT TO:<j\u00f6rg@example.net>"),
                         "553 5.6.7 Must declare SMTPUTF8 to send unicode address")
        c.ask("RSET")
        self.assertEqual(c.ask("MAIL FROM:<j\u00f6rg@client.test> SMTPUTF8"), "250 2.1.0 Ok")
        c.close()

    def test_unknown_local_user_logged(self):
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        r = c.ask(f"RCPT TO:<nobody@{HOST}>")
        self.assertEqual(r, f"550 5.1.1 <nobody@{HOST}>: Recipient address rejected: "
                            "User unknown in local recipient table")
        c.close()
        INST.wait_log(rf"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 <nobody@{HOST}>: "
                      rf"Recipient address rejected: User unknown in local recipient table; "
                      rf"from=<s@client\.test> to=<nobody@{HOST}> proto=ESMTP helo=<client\.test>")

    def test_relocated_user_is_refused(self):
        # trivial-rewrite's relocated_maps answer, refused at RCPT as Postfix does.
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        self.assertEqual(c.ask(f"RCPT TO:<dave@{HOST}>"),
                         f"550 5.1.6 <dave@{HOST}>: Recipient address rejected: User has moved to dave@new.example")
        c.close()

    def test_relay_recipient_maps(self):
        # Checked for every client, mynetworks too, as in Postfix.
        c = Raw(PORTS["relayrcpt"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        self.assertEqual(c.ask("RCPT TO:<known@relay.test.example>"), "250 2.1.5 Ok")
        self.assertEqual(c.ask("RCPT TO:<other@relay.test.example>"),
                         "550 5.1.1 <other@relay.test.example>: Recipient address rejected: "
                         "User unknown in relay recipient table")
        c.close()
        # receive_override_options = no_unknown_recipient_checks (behind a
        # content filter) lets it through.
        c = Raw(PORTS["nocheck"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        self.assertEqual(c.ask("RCPT TO:<other@relay.test.example>"), "250 2.1.5 Ok")
        self.assertEqual(c.ask(f"RCPT TO:<nobody@{HOST}>"), "250 2.1.5 Ok")
        c.close()

    def test_vrfy(self):
        c = Raw(PORTS["main"])
        self.assertEqual(c.ask(f"VRFY {LOCAL}"), f"252 2.0.0 {LOCAL}")
        self.assertEqual(c.ask(f"VRFY nobody@{HOST}")[:9], "550 5.1.1")
        c.close()
        c = Raw(PORTS["novrfy"])
        self.assertEqual(c.ask(f"VRFY {LOCAL}"), "502 5.5.1 VRFY command is disabled")
        ehlo = c.ask("EHLO x")
        self.assertNotIn("VRFY", ehlo)
        c.close()

    # --- relay control -------------------------------------------------------
    def rcpt_reply(self, port, rcpt, helo="client.test", sender="s@client.test"):
        c = Raw(port)
        c.ask(f"EHLO {helo}")
        self.assertTrue(c.ask(f"MAIL FROM:<{sender}>").startswith("250"))
        r = c.ask(f"RCPT TO:<{rcpt}>")
        c.ask("QUIT")
        c.close()
        return r

    def test_relay_denied_outside_mynetworks(self):
        r = self.rcpt_reply(PORTS["main"], "x@elsewhere.example")
        self.assertEqual(r, "454 4.7.1 <x@elsewhere.example>: Relay access denied")
        INST.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 454 4\.7\.1 <x@elsewhere\.example>: "
                      r"Relay access denied; from=<s@client\.test> to=<x@elsewhere\.example> proto=ESMTP "
                      r"helo=<client\.test>")
        r = self.rcpt_reply(PORTS["reject"], "x@elsewhere.example")
        self.assertEqual(r, "554 5.7.1 <x@elsewhere.example>: Relay access denied")
        # relay_domains (and its subdomains) are authorized destinations.
        self.assertTrue(self.rcpt_reply(PORTS["main"], "x@relay.test.example").startswith("250"))
        self.assertTrue(self.rcpt_reply(PORTS["main"], "x@sub.relay.test.example").startswith("250"))

    def test_data_restrictions(self):
        port = PORTS["datar"]
        c = Raw(port)
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<nodata@client.test>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertEqual(c.ask("DATA"), "554 5.7.1 <nodata@client.test>: Sender address rejected: Access denied")
        INST.wait_log(r"\w+: reject: DATA from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <nodata@client\.test>: "
                          rf"Sender address rejected: Access denied; from=<nodata@client\.test> to=<{re.escape(LOCAL)}> "
                          r"proto=ESMTP helo=<client\.test>")
        # BDAT: the chunk is read and thrown away, then the same answer.
        c.send(b"BDAT 7 LAST\r\nSubject")
        self.assertEqual(c.reply(), "554 5.7.1 <nodata@client.test>: Sender address rejected: Access denied")
        # After RSET another sender goes through.
        self.assertTrue(c.ask("RSET").startswith("250"))
        self.queue_fine(c)

    def test_delay_reject_no(self):
        port = PORTS["early"]
        # A refused client gets the rejection instead of the banner, then 503
        # for everything but QUIT.
        c = Raw(port, source="127.0.0.9")
        self.assertEqual(c.banner, "554 5.7.1 <localhost[127.0.0.9]>: Client host rejected: Access denied")
        self.assertEqual(c.ask("EHLO client.test"), "503 5.7.0 Error: access denied for localhost[127.0.0.9]")
        self.assertEqual(c.ask("MAIL FROM:<s@client.test>"), "503 5.7.0 Error: access denied for localhost[127.0.0.9]")
        self.assertTrue(c.ask("QUIT").startswith("221"))
        c.close()
        INST.wait_log(r"(?m)NOQUEUE: reject: CONNECT from localhost\[127\.0\.0\.9\]: 554 5\.7\.1 <localhost\[127\.0\.0\.9\]>: "
                      r"Client host rejected: Access denied; proto=SMTP$")
        INST.wait_log(r"disconnect from localhost\[127\.0\.0\.9\] ehlo=0/1 mail=0/1 quit=1 commands=1/3")
        c = Raw(port)
        self.assertTrue(c.banner.startswith("220"))
        # The HELO name at HELO: refused, and the session goes on without it.
        self.assertEqual(c.ask("EHLO bad.helo.test"), "554 5.7.1 <bad.helo.test>: Helo command rejected: Access denied")
        INST.wait_log(r"(?m)NOQUEUE: reject: EHLO from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <bad\.helo\.test>: "
                      r"Helo command rejected: Access denied; proto=SMTP helo=<bad\.helo\.test>$")
        self.assertTrue(c.ask("EHLO client.test").startswith("250"))
        # The sender at MAIL FROM, with the implicit unlisted-sender check.
        self.assertEqual(c.ask("MAIL FROM:<nomail@client.test>"),
                         "554 5.7.1 <nomail@client.test>: Sender address rejected: Access denied")
        INST.wait_log(r"(?m)NOQUEUE: reject: MAIL from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <nomail@client\.test>: "
                      r"Sender address rejected: Access denied; from=<nomail@client\.test> proto=ESMTP helo=<client\.test>$")
        self.assertEqual(c.ask(f"MAIL FROM:<mallory@{HOST}>"),
                         f"550 5.1.0 <mallory@{HOST}>: Sender address rejected: User unknown in local recipient table")
        # No transaction was left open by either.
        self.assertEqual(c.ask(f"RCPT TO:<{LOCAL}>"), "503 5.5.1 Error: need MAIL command")
        self.queue_fine(c)

    def test_reject_footer(self):
        port = PORTS["footer"]
        c = Raw(port)
        c.ask("EHLO client.test")
        # Rejections get the footer (joined by \\c, then a line of its own) ...
        self.assertEqual(c.ask("RCPT TO:<x@client.test>"),
                         "503-5.5.1 Error: need MAIL command. Help: 555-0101, quote 127.0.0.1.\n"
                         f"503 5.5.1 Server: {HOST}")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250 2.1.0 Ok"))  # ... nothing else does
        r = c.ask(f"RCPT TO:<nobody@{HOST}>")
        self.assertTrue(r.startswith("550-5.1.1 <nobody@"), r)
        self.assertTrue(r.endswith(f"User unknown in local recipient table. Help: 555-0101, quote 127.0.0.1.\n"
                                   f"550 5.1.1 Server: {HOST}"), r)
        # The log has the reply alone.
        INST.wait_log(rf"(?m)NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 <nobody@{re.escape(HOST)}>: "
                      r"Recipient address rejected: User unknown in local recipient table; from=<s@client\.test> ")
        self.assertNotIn("555-0101", INST.maillog())
        c.ask("QUIT")
        c.close()

    def test_end_of_data_restrictions(self):
        port = PORTS["eod"]
        c = Raw(port)
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<noend@client.test>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        r = c.ask("Subject: all of it\r\n\r\nbody\r\n.")
        self.assertEqual(r, "554 5.7.1 <noend@client.test>: Sender address rejected: Access denied")
        m = INST.wait_log(r"(\w+): reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 "
                          rf"<noend@client\.test>: Sender address rejected: Access denied; from=<noend@client\.test> "
                          rf"to=<{re.escape(LOCAL)}> proto=ESMTP")
        # Nothing was queued: the file cleanup had opened is gone.
        qid = m.group(1)
        wait_for(lambda: not any(qid in files for _, _, files in os.walk(INST.queue)), 10,
                 what="the refused message's queue file to go")
        # The session goes on.
        self.queue_fine(c)

    def test_insufficient_storage(self):
        # queue_minfree larger than any disk here: no mail is taken.
        marker = f"xspace{os.getpid()}x{time.time_ns()}.test"
        c = Raw(PORTS["nospace"])
        c.ask(f"EHLO {marker}")
        self.assertEqual(c.ask("MAIL FROM:<s@client.test>"), "452 4.3.1 Insufficient system storage")
        c.ask("QUIT")
        c.close()
        # A resource problem: with notify_classes' default (resource,
        # software) the postmaster gets the transcript. The notice gets into
        # the queue: the free space rule is smtpd's, not cleanup's.
        text = self.notice_with(marker)
        self.assertIn(" Out: 452 4.3.1 Insufficient system storage", text)
        INST.wait_log(r"warning: not enough free space in mail queue: \d+ bytes free, need queue_minfree "
                      r"1000000000000000 and twice the message size 0")
        INST.wait_log(r"NOQUEUE: reject: MAIL from localhost\[127\.0\.0\.1\]: 452 4\.3\.1 Insufficient system storage")
        # A SIZE= larger than half the free space is refused too (where
        # message_size_limit does not refuse it first); an ordinary one is not.
        c = Raw(PORTS["big"])
        c.ask("EHLO client.test")
        st = os.statvfs(INST.queue)
        huge = st.f_bavail * st.f_frsize // 2 + 1
        self.assertEqual(c.ask(f"MAIL FROM:<s@client.test> SIZE={huge}"), "452 4.3.1 Insufficient system storage")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test> SIZE=1000").startswith("250"))
        c.ask("QUIT")
        c.close()

    def test_unlisted_sender(self):
        port = PORTS["unlsender"]
        r = self.rcpt_reply(port, LOCAL, sender=f"mallory@{HOST}")
        self.assertEqual(r, f"550 5.1.0 <mallory@{HOST}>: Sender address rejected: User unknown in local "
                            "recipient table")
        INST.wait_log(rf"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.0 <mallory@{re.escape(HOST)}>: "
                      rf"Sender address rejected: User unknown in local recipient table; from=<mallory@{re.escape(HOST)}> ")
        for sender in (f"bob@{HOST}", "someone@client.test", ""):
            self.assertTrue(self.rcpt_reply(port, LOCAL, sender=sender).startswith("250"), sender)
        # Off by default.
        self.assertTrue(self.rcpt_reply(PORTS["main"], LOCAL, sender=f"mallory@{HOST}").startswith("250"))

    def test_routing_tricks_never_relay(self):
        for rcpt in (f"user%elsewhere.example@{HOST}", f"elsewhere.example!user@{HOST}",
                     f'"user@elsewhere.example"@{HOST}', f"@{HOST}:user@elsewhere.example",
                     "user%elsewhere.example@relay.test.example"):
            r = self.rcpt_reply(PORTS["reject"], rcpt)
            self.assertTrue(r.startswith("554 5.7.1 "), f"{rcpt}: {r}")
            self.assertIn("Relay access denied", r)

    def test_mynetworks_client_may_relay(self):
        self.assertTrue(self.rcpt_reply(PORTS["trusted"], "x@elsewhere.example").startswith("250 2.1.5"))

    def test_unknown_restriction_is_refused(self):
        # A restriction Postern lacks is refused when the configuration is
        # read: `postern check`, `start` and `reload` name the master.cf
        # line; a master told to reload anyway (SIGHUP) starts no daemon for
        # that service, whose clients get no greeting, and the mail log says
        # why. The other services run on.
        with open(INST.path("master.cf")) as f:
            good = f.read()
        port = free_port()
        line = good.count("\n") + 1
        bad = good + f"127.0.0.1:{port} inet n - n - - smtpd -o smtpd_recipient_restrictions=check_nonsense_thing\n"
        want = (rf'master\.cf, line {line}: service 127\.0\.0\.1:{port}: '
                r'-o smtpd_recipient_restrictions=check_nonsense_thing: parameter smtpd_recipient_restrictions = '
                r'check_nonsense_thing: Postern does not have the smtpd restriction "check_nonsense_thing"; '
                r'remove it \(Postern has: permit, reject, defer, ')
        INST.write_master_cf(bad)
        try:
            for cmd in ("check", "reload"):
                p = INST.run([cmd], check=False)
                self.assertEqual(p.returncode, 1, (cmd, p.stdout, p.stderr))
                self.assertRegex(p.stderr, want)
            os.kill(INST.master_pid(), signal.SIGHUP)
            wait_for(lambda: port_open(port), 10)
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.settimeout(2)
            try:
                data = s.recv(512)
            except (socket.timeout, ConnectionError):
                data = b""
            s.close()
            self.assertFalse(data.startswith(b"220"), data)
            INST.wait_log(r"postern/smtpd\[\d+\]: fatal: service 127\.0\.0\.1:" + str(port) +
                          r": -o smtpd_recipient_restrictions=check_nonsense_thing: parameter "
                          r'smtpd_recipient_restrictions = check_nonsense_thing: Postern does not have the smtpd '
                          r'restriction "check_nonsense_thing"')
        finally:
            INST.write_master_cf(good)
            INST.reload()
        self.assertTrue(self.rcpt_reply(PORTS["main"], LOCAL).startswith("250"))

    def test_access_table_and_fqdn_restrictions(self):
        def rcpt(helo, sender):
            return self.rcpt_reply(PORTS["access"], LOCAL, helo=helo, sender=sender)
        self.assertEqual(rcpt("client.test", "spam@example.net"),
                         "554 5.7.1 <spam@example.net>: Sender address rejected: no spam from you")
        INST.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <spam@example\.net>: "
                      r"Sender address rejected: no spam from you; from=<spam@example\.net> to=<alice@")
        # The domain entry covers its subdomains (parent_domain_matches_subdomains).
        self.assertEqual(rcpt("client.test", "x@sub.example.org"),
                         "550 5.7.1 <x@sub.example.org>: Sender address rejected: go away")
        # The most specific key wins.
        self.assertTrue(rcpt("client.test", "friend@example.org").startswith("250"))
        self.assertTrue(rcpt("client.test", "someone@example.net").startswith("250"))
        # WARN decides nothing and is logged in Postfix's shape.
        self.assertTrue(rcpt("client.test", "watched@example.net").startswith("250"))
        INST.wait_log(r"NOQUEUE: warn: RCPT from localhost\[127\.0\.0\.1\]: sender under watch; "
                      r"from=<watched@example\.net> to=<alice@\S+> proto=ESMTP helo=<client\.test>")
        self.assertEqual(rcpt("localhost", "someone@example.net"),
                         "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname")

    def test_warn_if_reject_and_reverse_client_access(self):
        reply = self.rcpt_reply(PORTS["warnrej"], "x@elsewhere.example", helo="client.test",
                                sender="s@example.net")
        self.assertTrue(reply.startswith("250"), reply)
        INST.wait_log(r"NOQUEUE: reject_warning: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 "
                      r"<x@elsewhere\.example>: Relay access denied; from=<s@example\.net> "
                      r"to=<x@elsewhere\.example> proto=ESMTP helo=<client\.test>")
        # The line says what soft_bounce would have made of the reply.
        reply = self.rcpt_reply(PORTS["warnrejsoft"], "y@elsewhere.example")
        self.assertTrue(reply.startswith("250"), reply)
        INST.wait_log(r"NOQUEUE: reject_warning: RCPT from localhost\[127\.0\.0\.1\]: 4\d\d 4\.7\.1 "
                      r"<y@elsewhere\.example>: Relay access denied;")
        self.assertEqual(self.rcpt_reply(PORTS["revaccess"], LOCAL),
                         "554 5.7.1 <localhost>: Unverified Client host rejected: reverse name refused")

    def test_permit_mx_backup(self):
        if "mxbackup" not in PORTS:
            self.skipTest("no dnsmasq")

        def rcpt(to, service="mxbackup"):
            return self.rcpt_reply(PORTS[service], to)
        self.assertTrue(rcpt("u@backup.test").startswith("250"), "we are a backup MX")
        self.assertTrue(rcpt(LOCAL).startswith("250"), "our own domain needs no DNS")
        # The primary MX must list the domain itself; no MX: no backup.
        self.assertEqual(rcpt("u@primary.test"), "554 5.7.1 <u@primary.test>: Relay access denied")
        self.assertEqual(rcpt("u@nx.test"), "554 5.7.1 <u@nx.test>: Relay access denied")
        # An MX host whose address cannot be looked up might be this one.
        reply = rcpt("u@mx.good.test")
        self.assertTrue(reply.startswith("450 4.4.4 <u@mx.good.test>: Recipient address rejected: Unable to look up "
                                         "host mail.good.test as mail exchanger"), reply)
        # No answer from DNS: deferred rather than refused.
        reply = rcpt("u@elsewhere.example")
        self.assertTrue(reply.startswith("450 4.4.4 <u@elsewhere.example>: Recipient address rejected: Unable to "
                                         "look up mail exchanger information"), reply)
        # permit_mx_backup_networks: the primary's address must be inside.
        self.assertTrue(rcpt("u@backup.test", "mxbackupin").startswith("250"))
        self.assertEqual(rcpt("u@backup.test", "mxbackupout"), "554 5.7.1 <u@backup.test>: Relay access denied")

    def test_sender_mx_access(self):
        if "mxaccess" not in PORTS:
            self.skipTest("no dnsmasq")

        def rcpt(sender):
            return self.rcpt_reply(PORTS["mxaccess"], LOCAL, sender=sender)
        self.assertEqual(rcpt("s@backup.test"),
                         "554 5.7.1 <s@backup.test>: Sender address rejected: mail exchanger on a loopback address")
        INST.wait_log(r"NOQUEUE: reject: RCPT from \S+: 554 5\.7\.1 <s@backup\.test>: Sender address rejected: "
                      r"mail exchanger on a loopback address; from=<s@backup\.test>")
        # No MX: the domain is its own mail exchanger (127.0.0.6).
        self.assertEqual(rcpt("s@nomx.lo.test"),
                         "554 5.7.1 <s@nomx.lo.test>: Sender address rejected: mail exchanger on a loopback address")
        # A DNS failure (dnsmasq refuses what it has no upstream for) decides nothing.
        self.assertTrue(rcpt("s@a.good.test").startswith("250"))
        INST.wait_log(r"warning: Unable to look up MX host for a\.good\.test: ")
        self.assertTrue(rcpt("s@primary.test").startswith("554"))  # its first MX is 127.0.0.1
        # An MX host without an address decides nothing, and is logged.
        self.assertTrue(rcpt("s@mx.good.test").startswith("250"))
        INST.wait_log(r"warning: Unable to look up MX host mail\.good\.test for Sender address <s@mx\.good\.test>")
        self.assertTrue(rcpt("").startswith("250"))

    def test_unknown_sender_domain(self):
        if "unkdomain" not in PORTS:
            self.skipTest("no dnsmasq")

        def rcpt(sender, helo="mx.good.test"):
            return self.rcpt_reply(PORTS["unkdomain"], LOCAL, helo=helo, sender=sender)
        self.assertTrue(rcpt("s@mx.good.test").startswith("250"), "MX")
        self.assertTrue(rcpt("s@a.good.test").startswith("250"), "address only")
        self.assertTrue(rcpt("").startswith("250"), "null sender")
        self.assertTrue(rcpt(f"s@{HOST}").startswith("250"), "our own domain needs no DNS")
        self.assertEqual(rcpt("s@nx.test"), "450 4.1.8 <s@nx.test>: Sender address rejected: Domain not found")
        # dnsmasq refuses names it has no upstream for: a temporary failure,
        # deferred because nothing else rejects.
        self.assertEqual(rcpt("s@elsewhere.example"),
                         "450 4.1.8 <s@elsewhere.example>: Sender address rejected: Domain not found")
        INST.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 450 4\.1\.8 <s@nx\.test>: Sender "
                      r"address rejected: Domain not found; from=<s@nx\.test>")
        # reject_unknown_helo_hostname on the same service: an address-only
        # name passes, a literal needs no DNS, an unknown name is refused.
        self.assertTrue(rcpt("s@mx.good.test", helo="a.good.test").startswith("250"))
        self.assertTrue(rcpt("s@mx.good.test", helo="[127.0.0.1]").startswith("250"))
        self.assertEqual(rcpt("s@mx.good.test", helo="host.nx.test"),
                         "450 4.7.1 <host.nx.test>: Helo command rejected: Host not found")

    def test_dns_block_lists(self):
        if "rbl" not in PORTS:
            self.skipTest("no dnsmasq")

        def rcpts(source, sender):
            c = Raw(PORTS["rbl"], source=source)
            c.ask("EHLO client.test")
            self.assertTrue(c.ask(f"MAIL FROM:<{sender}>").startswith("250"))
            r = [c.ask(f"RCPT TO:<{LOCAL}>"), c.ask(f"RCPT TO:<bob@{HOST}>")]
            c.ask("QUIT")
            c.close()
            return r

        def rcpt(source, sender="s@good.test"):
            r = rcpts(source, sender)
            self.assertEqual(r[0], r[1])  # the second asks the session's cache
            return r[0]
        # Both TXT records make the reason, in either order (DNS gives no order).
        r = rcpt("127.0.0.2")
        self.assertIn(r, ["554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; " + why
                          for why in ("Listed by bl.test / see https://bl.test/2",
                                      "see https://bl.test/2 / Listed by bl.test")])
        INST.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 Service unavailable; "
                      r"Client host \[127\.0\.0\.2\] blocked using bl\.test; \S.* / \S.*; "
                      r"from=<s@good\.test> to=<alice@mx\.test\.example> proto=ESMTP helo=<client\.test>")
        # Not listed; listed with a result the filter leaves out; a list
        # that cannot be asked (nobl.test): none of them rejects.
        self.assertTrue(rcpt("127.0.0.1").startswith("250"))
        self.assertTrue(rcpt("127.0.0.3").startswith("250"))
        INST.wait_log(r"warning: 1\.0\.0\.127\.nobl\.test: RBL lookup error: ")
        # A listed sender domain.
        self.assertEqual(rcpt("127.0.0.1", sender="x@Spam.Test"),
                         "554 5.7.1 Service unavailable; Sender address [x@Spam.Test] blocked using dbl.test")
        # The allow list wins over the block list that follows it.
        self.assertTrue(rcpt("127.0.0.4").startswith("250"))
        # A bounce has one recipient.
        first, second = rcpts("127.0.0.1", "")
        self.assertTrue(first.startswith("250"), first)
        self.assertEqual(second, "550 5.5.3 <>: Sender address rejected: Multi-recipient bounce")

    def test_policy_service(self):
        before = len(POLICY.requests)
        c = Raw(PORTS["policy"])
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test> SIZE=1000").startswith("250"))
        self.assertEqual(c.ask(f"RCPT TO:<greylist@{HOST}>"),
                         f"450 4.2.0 <greylist@{HOST}>: Recipient address rejected: Greylisted, see "
                         "http://postgrey.example/")
        self.assertEqual(c.ask(f"RCPT TO:<reject@{HOST}>"),
                         f"554 5.7.1 <reject@{HOST}>: Recipient address rejected: not welcome here")
        self.assertEqual(c.ask(f"RCPT TO:<alice@{HOST}>"), "250 2.1.5 Ok")
        c.ask("QUIT")
        c.close()
        INST.wait_log(rf"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 450 4\.2\.0 <greylist@{re.escape(HOST)}>: "
                      r"Recipient address rejected: Greylisted, see http://postgrey\.example/; from=<s@client\.test> "
                      rf"to=<greylist@{re.escape(HOST)}> proto=ESMTP helo=<client\.test>")
        got = POLICY.requests[before:]
        self.assertEqual([a["recipient"] for _, a in got], [f"greylist@{HOST}", f"reject@{HOST}", f"alice@{HOST}"])
        first = got[0][1]
        for name, value in (("request", "smtpd_access_policy"), ("protocol_state", "RCPT"),
                            ("protocol_name", "ESMTP"), ("client_address", "127.0.0.1"),
                            ("client_name", "localhost"), ("helo_name", "client.test"),
                            ("sender", "s@client.test"), ("size", "1000"), ("queue_id", "")):
            self.assertEqual(first.get(name), value, name)
        self.assertTrue(first.get("client_port", "").isdigit())
        # One transaction, one instance; one kept connection for all three.
        self.assertEqual(len({a["instance"] for _, a in got}), 1)
        self.assertEqual(len({conn for conn, _ in got}), 1)
        # No recipient was accepted before these: no queue file, no queue_id yet.
        self.assertEqual(got[2][1]["queue_id"], "")

    def test_policy_service_silent_or_flooding(self):
        for local in ("silent", "flood"):
            t0 = time.monotonic()
            r = self.rcpt_reply(PORTS["policyshort"], f"{local}@{HOST}")
            self.assertEqual(r, f"450 4.7.1 <{local}@{HOST}>: Recipient address rejected: policy unavailable")
            self.assertLess(time.monotonic() - t0, 10)
        INST.wait_log(r"warning: problem talking to server inet:127\.0\.0\.1:\d+: read: timeout")
        INST.wait_log(r"warning: problem talking to server inet:127\.0\.0\.1:\d+: answer longer than 65536 bytes")
        # The next request works, on a new connection.
        self.assertTrue(self.rcpt_reply(PORTS["policyshort"], LOCAL).startswith("250"))

    def test_policy_service_down(self):
        t0 = time.monotonic()
        r = self.rcpt_reply(PORTS["policydead"], LOCAL)
        self.assertEqual(r, f"451 4.3.5 <{LOCAL}>: Recipient address rejected: Server configuration problem")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)  # retry_delay between the two tries
        INST.wait_log(r"warning: problem talking to server inet:127\.0\.0\.1:\d+: connect: Connection refused")

    # --- protocol hygiene ----------------------------------------------------
    def test_nul_and_cr_in_commands(self):
        c = Raw(PORTS["main"])
        self.assertEqual(c.ask("NOOP\0x"), "500 5.5.2 Error: bad syntax")
        self.assertEqual(c.ask("HELO a\rb"), "501 5.5.2 Error: bare <CR> received")
        self.assertEqual(c.ask("MAIL FROM:<a\0b@c>"), "500 5.5.2 Error: bad syntax")
        self.assertEqual(c.ask("X" * 3000), "500 5.5.2 Error: line too long")
        self.assertEqual(c.ask("NOOP"), "250 2.0.0 Ok")
        c.close()
        INST.wait_log(r"warning: localhost\[127\.0\.0\.1\]: request longer than 2048: XXXX")

    def test_pipelining_without_ehlo_rejected(self):
        c = Raw(PORTS["main"])
        self.assertTrue(c.ask("HELO client.test").startswith("250"))
        c.send(f"MAIL FROM:<s@client.test>\r\nRCPT TO:<{LOCAL}>\r\n")
        out = c.rest()
        self.assertIn("554 5.5.0 Error: SMTP protocol synchronization", out)
        self.assertNotIn("250 2.1.5", out)
        c.close()
        INST.wait_log(r"improper command pipelining after MAIL from localhost\[127\.0\.0\.1\]: RCPT TO:")
        # Before any HELO/EHLO.
        c = Raw(PORTS["main"])
        c.send(f"MAIL FROM:<s@client.test>\r\nRCPT TO:<{LOCAL}>\r\n")
        self.assertIn("554 5.5.0", c.rest())
        c.close()

    def test_pipelining_with_ehlo_allowed(self):
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        c.send(f"MAIL FROM:<s@client.test>\r\nRCPT TO:<{LOCAL}>\r\nRCPT TO:<bob@{HOST}>\r\nDATA\r\n")
        self.assertEqual([c.reply() for _ in range(4)],
                         ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"])
        c.send("Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
        self.assertTrue(c.reply().startswith("250 2.0.0 Ok: queued as"))
        self.assertEqual(c.reply(), "221 2.0.0 Bye")
        c.close()

    def test_talk_before_greeting(self):
        s = socket.create_connection(("127.0.0.1", PORTS["pregreet"]), timeout=20)
        s.sendall(b"EHLO early.test\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        text = data.decode()
        self.assertTrue(text.startswith("220 "), text)
        self.assertIn("554 5.5.0 Error: SMTP protocol synchronization", text)
        self.assertNotIn("250", text)
        INST.wait_log(r"improper command pipelining after CONNECT from localhost\[127\.0\.0\.1\]: EHLO early")

    def test_smuggling_variants_never_two_messages(self):
        for variant in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n\0.\r\n", b"\r.\r\n", b"\r\n.\r"):
            c = Raw(PORTS["main"])
            c.ask("EHLO client.test")
            c.ask("MAIL FROM:<s@client.test>")
            c.ask(f"RCPT TO:<{LOCAL}>")
            r = c.ask("DATA")
            self.assertTrue(r.startswith("354"), f"{variant!r}: {r}")
            smuggled = (b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<bob@" + HOST.encode() +
                        b">\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n")
            c.send(b"Subject: outer\r\n\r\nbody" + variant + smuggled + b".\r\nQUIT\r\n")
            out = c.rest()
            c.close()
            self.assertEqual(out.count("queued as"), 1, f"{variant!r}: {out}")
            self.assertNotIn("2.1.0", out, repr(variant))
            qid = queued_id(out)
            content = postcat(qid)
            self.assertIn("evil@client.test", content, repr(variant))  # it is message content
            self.assertIn("Subject: outer", content)

    # --- limits --------------------------------------------------------------
    def test_recipient_limits(self):
        n = 1100
        rcpts = [f"alice+{i}@{HOST}" for i in range(n)]
        c = Raw(PORTS["big"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        c.send("".join(f"RCPT TO:<{r}>\r\n" for r in rcpts))
        replies = [c.reply() for _ in range(n)]
        self.assertEqual(set(replies), {"250 2.1.5 Ok"})
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send("Subject: many\r\n\r\nx\r\n.\r\n")
        qid = queued_id(c.reply())
        self.assertIsNotNone(qid)
        c.close()
        out = postcat(qid)
        self.assertEqual(len(re.findall(r"^recipient: alice\+\d+@", out, re.M)), n)
        self.assertNotIn("Received: from client.test (localhost [127.0.0.1])\n\tby mx.test.example (Postern) "
                         "with ESMTP id " + qid + "\n\tfor", out)  # several recipients: none listed
        # The default smtpd_recipient_limit (1000).
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        c.send("".join(f"RCPT TO:<{r}>\r\n" for r in rcpts[:1001]))
        replies = [c.reply() for _ in range(1001)]
        self.assertEqual(set(replies[:1000]), {"250 2.1.5 Ok"})
        self.assertEqual(replies[1000], "452 4.5.3 Error: too many recipients")
        c.close()

    def test_message_size_limit(self):
        c = Raw(PORTS["small"])
        self.assertIn("SIZE 100000", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("MAIL FROM:<s@client.test> SIZE=200000"),
                         "552 5.3.4 Message size exceeds fixed limit")
        self.assertEqual(c.ask("MAIL FROM:<s@client.test> SIZE=1000"), "250 2.1.0 Ok")
        c.ask(f"RCPT TO:<{LOCAL}>")
        c.ask("DATA")
        line = "x" * 998 + "\r\n"
        c.send("Subject: big\r\n\r\n" + line * 200 + ".\r\n")
        self.assertEqual(c.reply(), "552 5.3.4 Error: message file too big")
        # The session goes on.
        self.assertEqual(c.ask("MAIL FROM:<s@client.test>"), "250 2.1.0 Ok")
        c.close()

    def test_large_message_streams_with_bounded_memory(self):
        c = Raw(PORTS["big"])
        c.ask("EHLO client.test")
        pids = smtp_pids("big")
        self.assertGreaterEqual(len(pids), 1, INST.processes())
        c.ask("MAIL FROM:<s@client.test>")
        c.ask(f"RCPT TO:<{LOCAL}>")
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send("Subject: large\r\n\r\n")
        base = {p: vmrss_kb(p) for p in pids}
        peak = dict(base)

        def sample():
            for p in pids:
                peak[p] = max(peak[p], vmrss_kb(p))
        line = ("y" * 76 + "\r\n").encode()
        block = line * 1000  # 78 KB
        total = 0
        for i in range(100):  # ~7.8 MB
            c.send(block)
            total += len(block)
            if i % 10 == 0:
                sample()
        # One very long line too (cleanup splits it).
        c.send(b"z" * 500000 + b"\r\n")
        sample()
        c.send(b".\r\n")
        r = c.reply()
        sample()
        self.assertTrue(r.startswith("250 2.0.0 Ok: queued as"), r)
        c.close()
        growth = max(peak[p] - base[p] for p in pids)
        self.assertLess(growth, 6 * 1024, f"smtpd RSS grew from {base} kB to {peak} kB")
        out = INST.cmd("postcat", ["-q", queued_id(r)]).stdout
        self.assertIn("message_size:", out)
        size = int(re.search(r"message_size:\s+(\d+)", out).group(1))
        self.assertGreater(size, total)

    def test_timeout(self):
        c = Raw(PORTS["strict"])
        start = time.time()
        r = c.reply()
        self.assertEqual(r, f"421 4.4.2 {HOST} Error: timeout exceeded")
        self.assertGreater(time.time() - start, 1.5)
        c.close()
        INST.wait_log(r"timeout after CONNECT from localhost\[127\.0\.0\.1\]")

    def test_timeout_counts_from_the_last_command(self):
        # smtpd_timeout (2 s here) bounds each read, not the session: a client
        # that keeps talking for longer is served, and one that then stalls
        # is dropped about 2 s after its last command.
        c = Raw(PORTS["strict"])
        for _ in range(4):
            time.sleep(0.8)
            self.assertTrue(c.ask("NOOP").startswith("250"))
        last = time.time()
        r = c.reply()
        self.assertEqual(r, f"421 4.4.2 {HOST} Error: timeout exceeded")
        waited = time.time() - last
        self.assertGreater(waited, 1.5)
        self.assertLess(waited, 3.5)
        c.close()
        INST.wait_log(r"timeout after NOOP from localhost\[127\.0\.0\.1\]")

    def test_hard_error_limit(self):
        c = Raw(PORTS["strict"])
        for _ in range(3):
            self.assertTrue(c.ask("BOGUS").startswith("502"))
        self.assertEqual(c.reply(), f"421 4.7.0 {HOST} Error: too many errors")
        self.assertEqual(c.reply(), "")  # closed
        c.close()
        INST.wait_log(r"too many errors after UNKNOWN from localhost\[127\.0\.0\.1\]")

    def test_soft_error_limit_sleeps(self):
        c = Raw(PORTS["soft"])
        t0 = time.time()
        self.assertTrue(c.ask("BOGUS").startswith("502"))
        self.assertLess(time.time() - t0, 0.9)
        t0 = time.time()
        self.assertEqual(c.ask("NOOP"), "250 2.0.0 Ok")
        self.assertGreaterEqual(time.time() - t0, 0.9)
        c.close()

    def test_junk_command_limit(self):
        c = Raw(PORTS["junk"])
        replies = [c.ask("NOOP") for _ in range(6)]
        self.assertEqual(replies[:5], ["250 2.0.0 Ok"] * 5)
        self.assertEqual(replies[5], f"421 4.7.0 {HOST} Error: too many errors")
        c.close()

    def test_connection_count_limit(self):
        a, b = Raw(PORTS["conn"]), Raw(PORTS["conn"])
        self.assertTrue(a.banner.startswith("220") and b.banner.startswith("220"))
        c = Raw(PORTS["conn"])
        self.assertEqual(c.banner, f"421 4.7.0 {HOST} Error: too many connections from 127.0.0.1")
        for x in (a, b, c):
            x.close()
        INST.wait_log(r"warning: Connection concurrency limit exceeded: 3 from localhost\[127\.0\.0\.1\]")
        time.sleep(0.5)
        d = Raw(PORTS["conn"])
        self.assertTrue(d.banner.startswith("220"))
        d.close()

    def test_connection_count_limit_across_processes(self):
        port = PORTS["connmulti"]
        a, b = Raw(port), Raw(port)
        self.assertTrue(a.banner.startswith("220") and b.banner.startswith("220"))
        # max_use 1: each session has a process of its own.
        self.assertGreaterEqual(len(INST.service_pids(f"127.0.0.1:{port}")), 2)
        c = Raw(port)
        self.assertEqual(c.banner, f"421 4.7.0 {HOST} Error: too many connections from 127.0.0.1")
        INST.wait_log(r"warning: Connection concurrency limit exceeded: 3 from localhost\[127\.0\.0\.1\] "
                      rf"for service 127\.0\.0\.1:{port}")
        for x in (a, b, c):
            x.close()

        # The counts go back down as the sessions (and their processes) end.
        def accepted():
            d = Raw(port)
            ok = d.banner.startswith("220")
            d.close()
            return ok
        wait_for(accepted, 10, interval=0.2, what="a new session to be accepted")
        # anvil logs its peak every anvil_status_update_time (1s here); the
        # peak may belong to another service's test in the same second.
        INST.wait_log(r"anvil\[\d+\]: statistics: max connection count \d+ for \(127\.0\.0\.1:\d+:127\.0\.0\.1\) "
                      r"at \w{3} [ \d]\d \d\d:\d\d:\d\d")

    def test_connection_rate_limit(self):
        port = PORTS["rate"]
        for _ in range(2):
            x = Raw(port)
            self.assertTrue(x.banner.startswith("220"), x.banner)
            x.ask("QUIT")
            x.close()
        c = Raw(port)
        self.assertEqual(c.banner, f"421 4.7.0 {HOST} Error: too many connections from 127.0.0.1")
        c.close()
        INST.wait_log(r"warning: Connection rate limit exceeded: 3 from localhost\[127\.0\.0\.1\] "
                      rf"for service 127\.0\.0\.1:{port}")

    def test_message_and_recipient_rate_limits(self):
        port = PORTS["msgrate"]
        c = Raw(port)
        c.ask("EHLO client.test")
        for _ in range(2):
            self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
            self.assertTrue(c.ask("RSET").startswith("250"))
        # The third MAIL FROM in the time unit is one too many.
        self.assertEqual(c.ask("MAIL FROM:<s@client.test>"), "450 4.7.1 Error: too much mail from 127.0.0.1")
        c.ask("QUIT")
        c.close()
        INST.wait_log(r"warning: Message delivery request rate limit exceeded: 3 from localhost\[127\.0\.0\.1\] "
                      rf"for service 127\.0\.0\.1:{port}")
        # The count is the client's, not the session's: a new session is over it too.
        c = Raw(port)
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("450 4.7.1"))
        c.ask("QUIT")
        c.close()

    def test_recipient_rate_limit(self):
        port = PORTS["rcptrate"]
        c = Raw(port)
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        for i in range(3):
            self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"), i)
        self.assertEqual(c.ask(f"RCPT TO:<{LOCAL}>"), "450 4.7.1 Error: too many recipients from 127.0.0.1")
        c.ask("QUIT")
        c.close()
        INST.wait_log(r"warning: Recipient address rate limit exceeded: 4 from localhost\[127\.0\.0\.1\] "
                      rf"for service 127\.0\.0\.1:{port}")

    def test_no_anvil_means_no_limit(self):
        port = PORTS["noanvil"]
        a, b = Raw(port), Raw(port)
        self.assertTrue(a.banner.startswith("220") and b.banner.startswith("220"), (a.banner, b.banner))
        for x in (a, b):
            x.close()
        INST.wait_log(r"warning: anvil service \S*no-such-anvil: connect: .*: carrying on without connection limits")

    def test_hopcount_limit_from_cleanup(self):
        hops = "".join(f"Received: from hop{i}.example by x; Mon, 1 Jan 2024 00:00:00 +0000\r\n" for i in range(60))
        r = self.transaction(PORTS["main"], body=hops + "Subject: loop\r\n\r\nx\r\n")
        self.assertTrue(r.startswith("554 5.4.0"), r)

    def test_abort_removes_queue_file(self):
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        c.ask(f"RCPT TO:<{LOCAL}>")
        c.ask("DATA")
        c.send("Subject: half\r\n\r\npartial\r\n")
        time.sleep(0.3)
        c.close()
        m = INST.wait_log(r"lost connection after DATA \(\d+ bytes\) from localhost\[127\.0\.0\.1\]")
        # The queue id of that transaction is gone.
        ids = re.findall(r"(\w+): client=localhost", INST.maillog())
        wait_for(lambda: INST.cmd("postcat", ["-q", ids[-1]], check=False).returncode != 0, 10,
                 what="the unfinished queue file to be removed")

    def incoming_ids(self):
        return {f for _, _, files in os.walk(os.path.join(INST.queue, "incoming")) for f in files
                if not f.startswith("tmp.")}

    def queue_one(self, c, sender, subject):
        """One accepted transaction to LOCAL on session `c`; its queue ID."""
        self.assertTrue(c.ask(f"MAIL FROM:<{sender}>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send(f"Subject: {subject}\r\n\r\n{subject}\r\n.\r\n")
        qid = queued_id(c.reply())
        self.assertTrue(qid)
        return qid

    def test_hold_and_discard_actions(self):
        """Access table HOLD puts the whole message in the hold queue,
        DISCARD answers 250 and keeps nothing; both are logged in Postfix's
        shape, and a discarded transaction's later recipients are not
        checked."""
        c = Raw(PORTS["access"])
        c.ask("EHLO client.test")
        held = self.queue_one(c, "held@example.net", "held")
        INST.wait_log(r"\w+: hold: RCPT from localhost\[127\.0\.0\.1\]: <held@example\.net>: Sender address "
                      r"triggers HOLD action; from=<held@example\.net> to=<alice@\S+> proto=ESMTP helo=<client\.test>")
        hold_files = {f for _, _, files in os.walk(os.path.join(INST.queue, "hold")) for f in files}
        self.assertIn(held, hold_files)
        self.assertNotIn(held, self.incoming_ids())
        self.assertIn("Subject: held", postcat(held))

        self.assertTrue(c.ask("MAIL FROM:<gone@example.net>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        # Unknown here, so reject_unlisted_recipient would refuse it; the
        # message is being discarded, so nothing is checked any more.
        self.assertTrue(c.ask(f"RCPT TO:<nobody@{HOST}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send("Subject: gone\r\n\r\ngone\r\n.\r\n")
        gone = queued_id(c.reply())
        self.assertTrue(gone)
        c.ask("QUIT")
        c.close()
        INST.wait_log(r"\w+: discard: RCPT from localhost\[127\.0\.0\.1\]: <gone@example\.net>: Sender address "
                      r"spam source; from=<gone@example\.net> to=<alice@\S+> proto=ESMTP helo=<client\.test>")
        self.assertNotEqual(INST.cmd("postcat", ["-q", gone], check=False).returncode, 0)
        self.assertEqual(INST.maillog().count(": discard: "), 1)
        self.assertNotRegex(INST.maillog(), r"warning: .*(HOLD action|spam source)")

    def test_prepend_action(self):
        """PREPEND puts its header before smtpd's Received: header, once per
        message however many recipients ran the sender restriction; a result
        that is not a header is a logged table mistake that decides nothing."""
        c = Raw(PORTS["access"])
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<tagged@example.net>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<alice+two@{HOST}>").startswith("250"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send("Subject: tagged\r\n\r\ntagged\r\n.\r\n")
        qid = queued_id(c.reply())
        self.assertTrue(qid)
        self.assertTrue(c.ask("MAIL FROM:<untagged@example.net>").startswith("250"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250"))
        c.ask("QUIT")
        c.close()
        out = postcat(qid)
        self.assertEqual(out.count("X-Tagged: by the sender table"), 1, out)
        self.assertLess(out.index("X-Tagged: by the sender table"), out.index("Received: from client.test"))
        INST.wait_log(r"warning: smtpd_sender_restrictions: check_sender_access hash:\S+: access table entry "
                      r"\"PREPEND no header here\" requires header: text")

    def test_bcc_action(self):
        """BCC adds a recipient that the sender never hears about (NOTIFY=NEVER);
        the Received: header still names the one recipient the client gave."""
        c = Raw(PORTS["access"])
        c.ask("EHLO client.test")
        qid = self.queue_one(c, "copied@example.net", "copied")
        c.ask("QUIT")
        c.close()
        INST.wait_log(r"\w+: bcc: RCPT from localhost\[127\.0\.0\.1\]: <copied@example\.net>: Sender address "
                      rf"triggers BCC audit@{re.escape(HOST)}; from=<copied@example\.net> to=<alice@")
        out = postcat(qid)
        self.assertIn(f"recipient: {LOCAL}", out)
        self.assertIn(f"recipient: audit@{HOST}", out)
        self.assertRegex(out, rf"for <{re.escape(LOCAL)}>;")
        self.assertRegex(out, r"(?i)notify.*never")

    def test_restriction_classes(self):
        self.assertEqual(self.rcpt_reply(PORTS["classes"], LOCAL, sender="watch@example.net"),
                         "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: watched client")
        self.assertTrue(self.rcpt_reply(PORTS["classes"], LOCAL, sender="other@example.net").startswith("250"))

    def cleanup_pids(self):
        return {pid for pid, argv in INST.processes().items() if argv and argv[0].endswith("/cleanup")}

    def test_kept_cleanup_connection_outlives_its_cleanup_process(self):
        """smtpd keeps its connection to cleanup for the next message. When
        that cleanup process is gone by then (killed, or stopped by a reload),
        the next message goes out on a new connection: the client sees 250,
        and nothing is logged as a warning."""
        start = len(INST.maillog())
        r = self.transaction(PORTS["main"])
        self.assertTrue(r.startswith("250 2.0.0"), r)
        pids = self.cleanup_pids()
        self.assertTrue(pids)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not (pids & self.cleanup_pids()), 10, what="the cleanup processes to exit")
        for _ in range(3):
            r = self.transaction(PORTS["main"])
            self.assertTrue(r.startswith("250 2.0.0"), r)
        # A reload stops every cleanup process; their kept connections close.
        pids = self.cleanup_pids()
        INST.reload()
        wait_for(lambda: not (pids & self.cleanup_pids()), 20, what="the old cleanup processes to exit")
        r = self.transaction(PORTS["main"])
        self.assertTrue(r.startswith("250 2.0.0"), r)
        bad = [l for l in INST.maillog()[start:].splitlines()
               if ("warning:" in l or "error:" in l) and "cleanup" in l and "killed by signal 9" not in l]
        self.assertEqual(bad, [])

    def test_later_transactions_open_cleanup_ahead(self):
        """The second MAIL of a session opens cleanup ahead of its RCPT; a
        refused recipient still logs NOQUEUE, and the file opened ahead goes
        away with the transaction."""
        before = self.incoming_ids()
        clients = INST.maillog().count(": client=")
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")

        def queue_one(sender, subject):
            return self.queue_one(c, sender, subject)

        first = queue_one("one@client.test", "one")
        self.assertTrue(c.ask("MAIL FROM:<two@client.test>").startswith("250"))
        self.assertEqual(c.ask(f"RCPT TO:<nobody@{HOST}>")[:9], "550 5.1.1")
        INST.wait_log(rf"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 <nobody@{HOST}>: "
                      rf".*from=<two@client\.test>")
        self.assertEqual(c.ask("RSET"), "250 2.0.0 Ok")
        third = queue_one("three@client.test", "three")
        self.assertNotEqual(first, third)
        INST.wait_log(rf"{third}: client=localhost\[127\.0\.0\.1\]")
        self.assertIn("Subject: three", postcat(third))
        # MAIL after the last message opens ahead again; QUIT drops it.
        self.assertTrue(c.ask("MAIL FROM:<four@client.test>").startswith("250"))
        self.assertEqual(c.ask("QUIT"), "221 2.0.0 Bye")
        c.close()
        wait_for(lambda: self.incoming_ids() - before == {first, third}, 10,
                 what="only the two queued messages to stay in incoming")
        # Queue IDs came into use (client=) for the two queued messages only.
        self.assertEqual(INST.maillog().count(": client=") - clients, 2)

    def test_bulk_session_opens_cleanup_when_a_message_is_answered(self):
        """From its second queued message on, a session gets its next queue
        file as soon as a message is answered; the next transaction uses it,
        one that died meanwhile is replaced, and QUIT drops the last one."""
        before = self.incoming_ids()
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")

        def queue_one(subject):
            return self.queue_one(c, "bulk@client.test", subject)

        def new_files(queued):
            return self.incoming_ids() - before - set(queued)

        queued = [queue_one("one")]
        time.sleep(0.3)
        self.assertEqual(new_files(queued), set(), "one message is not yet a bulk session")
        queued.append(queue_one("two"))
        # Opened ahead, before any MAIL FROM: an empty queue file appears.
        ahead = wait_for(lambda: new_files(queued), 10, what="a queue file opened after the second message")
        self.assertEqual(len(ahead), 1)
        queued.append(queue_one("three"))
        self.assertEqual({queued[-1]}, ahead, "the third message uses the file opened ahead")
        self.assertIn("Subject: three", postcat(queued[-1]))
        # The next one is opened ahead too; kill cleanup under it. The
        # transaction must not notice (a fresh connection is opened).
        dead = wait_for(lambda: new_files(queued), 10, what="a queue file opened after the third message")
        for pid in INST.service_pids("cleanup"):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        queued.append(queue_one("four"))
        self.assertNotIn(queued[-1], dead)
        self.assertIn("Subject: four", postcat(queued[-1]))
        wait_for(lambda: new_files(queued) - dead, 10, what="a queue file opened after the fourth message")
        self.assertEqual(c.ask("QUIT"), "221 2.0.0 Bye")
        c.close()
        # QUIT dropped the last one; the killed cleanup's file stays (not
        # ready) for postsuper, as any file of a crashed cleanup.
        wait_for(lambda: new_files(queued) <= dead, 10, what="the file opened ahead to go with QUIT")
        for root, _, files in os.walk(os.path.join(INST.queue, "incoming")):
            for qid in dead & set(files):
                self.assertNotEqual(INST.cmd("postcat", ["-q", qid], check=False).returncode, 0)
                os.unlink(os.path.join(root, qid))

    # --- BDAT ----------------------------------------------------------------
    def test_bdat(self):
        c = Raw(PORTS["main"])
        c.ask("EHLO client.test")
        c.ask("MAIL FROM:<s@client.test>")
        c.ask(f"RCPT TO:<{LOCAL}>")
        part1 = b"Subject: chunked\r\n\r\nfirst "
        part2 = b"part\r\n.second line\r\n"
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertEqual(c.reply(), f"250 2.0.0 Ok: {len(part1)} bytes")
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        r = c.reply()
        self.assertTrue(r.startswith("250 2.0.0 Ok: queued as"), r)
        out = postcat(queued_id(r))
        self.assertIn("first part\n.second line", out)
        # BDAT without a transaction: the chunk is read and refused.
        c.send(b"BDAT 5 LAST\r\nhello")
        self.assertEqual(c.reply(), "503 5.5.1 Error: need MAIL command")
        self.assertEqual(c.ask("NOOP"), "250 2.0.0 Ok")
        c.close()

    def test_command_filter_rewrites_commands_before_they_are_read(self):
        c = Raw(PORTS["cmdfilter"])
        c.ask("EHLO client.test")
        self.assertEqual(c.ask("XYZZY"), "250 2.0.0 Ok")
        self.assertEqual(c.ask("MAIL FROM:<s@client.test>"), "250 2.1.0 Ok")
        # Without the filter: 555 5.5.4 Unsupported option: BROKEN=yes
        self.assertEqual(c.ask(f"RCPT TO:<{LOCAL}> BROKEN=yes"), "250 2.1.5 Ok")
        c.ask("QUIT")
        c.close()
        INST.wait_log(r'localhost\[127\.0\.0\.1\]: replacing command "XYZZY" with "NOOP"')
        INST.wait_log(rf'replacing command "RCPT TO:<{re.escape(LOCAL)}> BROKEN=yes" with "RCPT TO:<{re.escape(LOCAL)}>"')
        d = Raw(PORTS["main"])
        d.ask("EHLO client.test")
        d.ask("MAIL FROM:<s@client.test>")
        self.assertTrue(d.ask(f"RCPT TO:<{LOCAL}> BROKEN=yes").startswith("5"))
        d.close()

    def test_upstream_proxy_protocol(self):
        # v1: the client's address is the one the proxy names.
        sock = socket.create_connection(("127.0.0.1", PORTS["proxied"]), timeout=10)
        sock.sendall(b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\n")
        f = sock.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        sock.sendall(b"EHLO client.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<p@client.test>\r\n")
        self.assertTrue(f.readline().startswith(b"250"))
        sock.sendall(f"RCPT TO:<{LOCAL}>\r\nDATA\r\n".encode())
        self.assertTrue(f.readline().startswith(b"250"))
        self.assertTrue(f.readline().startswith(b"354"))
        sock.sendall(b"Subject: proxied\r\n\r\nhi\r\n.\r\n")
        r = f.readline().decode()
        self.assertTrue(r.startswith("250 2.0.0 Ok: queued as"), r)
        sock.sendall(b"QUIT\r\n")
        f.readline()
        sock.close()
        INST.wait_log(r"connect from unknown\[198\.51\.100\.7\]")
        self.assertIn("client_address=198.51.100.7", postcat(queued_id(r)))
        # v2, and a header split over several writes.
        sock = socket.create_connection(("127.0.0.1", PORTS["proxied"]), timeout=10)
        hdr = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([203, 0, 113, 9, 192, 0, 2, 1]) +
               (41000).to_bytes(2, "big") + (25).to_bytes(2, "big"))
        sock.sendall(hdr[:5])
        time.sleep(0.2)
        sock.sendall(hdr[5:])
        f = sock.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        sock.sendall(b"QUIT\r\n")
        f.readline()
        sock.close()
        INST.wait_log(r"connect from unknown\[203\.0\.113\.9\]")
        # No header: refused.
        sock = socket.create_connection(("127.0.0.1", PORTS["proxied"]), timeout=10)
        sock.sendall(b"EHLO client.test\r\n")
        f = sock.makefile("rb")
        self.assertEqual(f.readline(), f"421 4.3.0 {HOST} Server local error\r\n".encode())
        sock.close()
        INST.wait_log(r"warning: haproxy read: no haproxy header")

    # --- postmaster notices (notify_classes) ------------------------------------
    def notice_with(self, marker):
        qid = wait_for(lambda: (queued_with(marker) or [None])[0], 30, what=f"a postmaster notice with {marker}")
        return postcat(qid)

    def test_protocol_and_policy_errors_mail_the_postmaster_a_transcript(self):
        marker = f"XNOTICE{os.getpid()}X{time.time_ns()}"
        c = Raw(PORTS["notify"])
        self.assertTrue(c.ask("EHLO client.test").startswith("250"))
        self.assertEqual(c.ask(marker), "502 5.5.2 Error: command not recognized")
        self.assertTrue(c.ask("MAIL FROM:<s@client.test>").startswith("250"))
        r = c.ask(f"RCPT TO:<{marker.lower()}@elsewhere.example>")
        self.assertIn("Relay access denied", r)
        c.ask("AUTH PLAIN c2VjcmV0AHNlY3JldABzZWNyZXQ=")
        c.ask("QUIT")
        c.close()
        text = self.notice_with(marker)
        self.assertRegex(text, r"(?m)^sender: double-bounce@")
        self.assertRegex(text, r"(?m)^recipient: postmaster(@\S+)?$")
        self.assertIn("From: Mail Delivery System <MAILER-DAEMON@", text)
        self.assertIn("Subject: Postern SMTP server: errors from localhost[127.0.0.1]", text)
        self.assertIn("Transcript of session follows.", text)
        self.assertIn(" Out: 220 ", text)
        self.assertIn(" In:  EHLO client.test", text)
        self.assertIn(f" In:  {marker}", text)
        self.assertIn(" Out: 502 5.5.2 Error: command not recognized", text)
        self.assertRegex(text, r"Relay\s+access denied")  # wrapped at 78 columns
        self.assertIn(" In:  QUIT", text)
        self.assertIn(" Out: 221 2.0.0 Bye", text)
        # A client's credentials are never mailed around.
        self.assertIn(" In:  AUTH PLAIN ...", text)
        self.assertNotIn("c2VjcmV0", text)
        self.assertNotIn("Session aborted", text)

    def test_lost_connection_is_the_reason_given(self):
        marker = f"XLOST{os.getpid()}X{time.time_ns()}"
        c = Raw(PORTS["notify"])
        c.ask(marker)
        c.close()
        text = self.notice_with(marker)
        self.assertIn("Session aborted, reason: lost connection", text)

    def test_default_classes_send_nothing_for_a_protocol_error(self):
        # notify_classes = resource, software (Postfix's default).
        marker = f"XQUIET{os.getpid()}X{time.time_ns()}"
        disconnects = len(re.findall(r"disconnect from localhost\[127\.0\.0\.1\]", INST.maillog()))
        c = Raw(PORTS["main"])
        c.ask(marker)
        c.ask("QUIT")
        c.close()
        # A notice would be submitted right after the disconnect is logged;
        # the loud service's notice, from a session begun after that line,
        # shows that enough time has passed.
        wait_for(lambda: len(re.findall(r"disconnect from localhost\[127\.0\.0\.1\]", INST.maillog())) > disconnects,
                 10, what="the quiet session's end")
        loud = f"XLOUD{os.getpid()}X{time.time_ns()}"
        d = Raw(PORTS["notify"])
        d.ask(loud)
        d.ask("QUIT")
        d.close()
        self.notice_with(loud)
        self.assertEqual(queued_with(marker), [])

    def test_long_history_is_mailed_and_restarted_at_rset(self):
        # smtpd_history_flush_threshold = 4: past that, RSET sends what has
        # errors and starts afresh; an error-free history is dropped.
        first, second = (f"XFLUSH{n}{os.getpid()}X{time.time_ns()}" for n in (1, 2))
        c = Raw(PORTS["notifyflush"])
        self.assertTrue(c.ask("EHLO client.test").startswith("250"))
        self.assertEqual(c.ask("RSET"), "250 2.0.0 Ok")  # drops the error-free EHLO history
        c.ask(first)
        c.ask(first)
        self.assertEqual(c.ask("RSET"), "250 2.0.0 Ok")  # 6 lines with errors: sent
        early = self.notice_with(first)
        self.assertNotIn("EHLO client.test", early)
        self.assertIn(" In:  RSET", early)
        c.ask(second)
        c.ask("QUIT")
        c.close()
        late = self.notice_with(second)
        self.assertNotIn(first, late)
        self.assertIn(" Out: 221 2.0.0 Bye", late)

    # --- Postfix's load generator -------------------------------------------
    @unittest.skipUnless(os.path.exists("/usr/sbin/smtp-source"), "smtp-source not installed")
    def test_smtp_source(self):
        p = subprocess.run(["/usr/sbin/smtp-source", "-s", "5", "-m", "20", "-l", "2000",
                            "-f", "sender@client.test", "-t", LOCAL, f"127.0.0.1:{PORTS['main']}"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        wait_for(lambda: len(re.findall(r"client=localhost\[127\.0\.0\.1\]", INST.maillog())) >= 20, 30,
                 what="20 messages")


if __name__ == "__main__":
    unittest.main()
