"""smtpd's SMTP AUTH through Dovecot's authentication protocol.

The authentication service here is a small server in this file that speaks
Dovecot's auth protocol (version 1.2, as documented by Dovecot) on a UNIX
socket, with two users; test_dovecot_sasl() also runs Debian's real Dovecot
when it is installed. Clients are smtplib and raw sockets.
"""
import base64
import os
import shutil
import smtplib
import socketserver
import ssl
import subprocess
import threading
import unittest

from harness import (LIBEXEC, NO_QMGR_FLOW, Instance, SmtpClient, free_port, port_open, queue_master_cf,
                     queued_id, smtpd_master_cf, wait_for)

HOST = "mx.test.example"
USERS = {"bob": "secret", "carol": "pa ss"}
PORTS = {}
INST = None
AUTH = None
CLIENT = None  # the sending instance of SmtpClientSaslTest


class FakeDovecot(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        self.requests = []  # every AUTH line, split at TABs
        super().__init__(path, FakeDovecotHandler)
        os.chmod(path, 0o666)


class FakeDovecotHandler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write((line + "\n").encode())
        self.wfile.flush()

    def check(self, rid, user, password):
        if USERS.get(user) == password:
            self.send(f"OK\t{rid}\tuser={user}")
        else:
            self.send(f"FAIL\t{rid}\tuser={user}\treason=Password mismatch")

    def handle(self):
        for line in ("VERSION\t1\t2", "SPID\t4242", "CUID\t7", "COOKIE\t" + "0" * 32, "MECH\tPLAIN\tplaintext",
                     "MECH\tLOGIN\tplaintext", "MECH\tANONYMOUS\tanonymous", "DONE"):
            self.send(line)
        state = {}
        for raw in self.rfile:
            parts = raw.decode().rstrip("\n").split("\t")
            if parts[0] == "AUTH":
                self.server.requests.append(parts)
                rid, mech = parts[1], parts[2]
                resp = next((p[5:] for p in parts[3:] if p.startswith("resp=")), None)
                state = {"id": rid, "mech": mech}
                if mech == "PLAIN":
                    if resp is None:
                        self.send(f"CONT\t{rid}\t")
                        continue
                    _, user, password = base64.b64decode(resp).decode().split("\0")
                    self.check(rid, user, password)
                elif mech == "LOGIN":
                    state["step"] = "user"
                    self.send(f"CONT\t{rid}\t" + base64.b64encode(b"Username:").decode())
            elif parts[0] == "CONT":
                rid, data = parts[1], base64.b64decode(parts[2]).decode()
                if state.get("mech") == "PLAIN":
                    _, user, password = data.split("\0")
                    self.check(rid, user, password)
                elif state.get("step") == "user":
                    state.update(step="password", user=data)
                    self.send(f"CONT\t{rid}\t" + base64.b64encode(b"Password:").decode())
                else:
                    self.check(rid, state.get("user"), data)


def setUpModule():
    global INST, AUTH
    INST = Instance("sasl")
    sock = os.path.join(INST.root, "auth")
    AUTH = FakeDovecot(sock)
    threading.Thread(target=AUTH.serve_forever, daemon=True).start()
    key, cert = os.path.join(INST.root, "key.pem"), os.path.join(INST.root, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-newkey", "rsa:2048",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    with open(INST.path("main.cf"), "a") as f:
        f.write(f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname
mynetworks = 192.0.2.0/24
local_recipient_maps = inline:{{alice=x}}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {sock}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
{NO_QMGR_FLOW}""")
    services = {
        "main": "",
        "header": "-o smtpd_sasl_authenticated_header=yes",
        "tlsonly": "-o smtpd_tls_auth_only=yes",
        "down": f"-o smtpd_sasl_path={os.path.join(INST.root, 'no-such-socket')}",
        "excepted": "-o smtpd_sasl_exceptions_networks=127.0.0.0/8",
        "owners": "-o {smtpd_sender_login_maps = inline:{ {bob@client.test = bob} }} "
                  "-o smtpd_sender_restrictions=reject_sender_login_mismatch",
        "authrate": "-o smtpd_client_auth_rate_limit=2 -o smtpd_client_event_limit_exceptions=",
        "saslaccess": "-o {smtpd_sender_restrictions = check_sasl_access inline:{ {carol = REJECT account suspended} }}",
    }
    INST.write_master_cf(smtpd_master_cf(services, PORTS) + "anvil unix - - n - 1 anvil\n")
    INST.start()


def tearDownModule():
    if CLIENT:
        CLIENT.cleanup()
    if AUTH:
        AUTH.shutdown()
        AUTH.server_close()
    if INST:
        INST.cleanup()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def postcat(qid):
    return INST.cmd("postcat", ["-q", qid]).stdout


class SaslTest(unittest.TestCase):
    def relay_message(self, c):
        """MAIL/RCPT to a remote domain (relaying) and DATA; the final reply."""
        r = c.ask("MAIL FROM:<bob@client.test>")
        self.assertTrue(r.startswith("250"), r)
        r = c.ask("RCPT TO:<someone@remote.test>")
        if not r.startswith("250"):
            return r
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send("Subject: relayed\r\n\r\nhi\r\n.\r\n")
        return c.reply()

    def test_ehlo_offers_mechanisms_without_anonymous(self):
        c = SmtpClient(PORTS["main"])
        ehlo = c.ask("EHLO client.test")
        self.assertIn("AUTH PLAIN LOGIN", ehlo)
        self.assertNotIn("ANONYMOUS", ehlo)
        c.close()

    def test_plain_with_initial_response_allows_relaying(self):
        c = SmtpClient(PORTS["main"])
        c.ask("EHLO client.test")
        # Without AUTH, relaying is refused (Postfix's default relay restrictions).
        r = c.ask("MAIL FROM:<x@client.test>")
        self.assertTrue(r.startswith("250"))
        self.assertRegex(c.ask("RCPT TO:<someone@remote.test>"), r"^454 4\.7\.1 .*Relay access denied")
        c.ask("RSET")
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0secret")), "235 2.7.0 Authentication successful")
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0secret")), "503 5.5.1 Error: already authenticated")
        r = self.relay_message(c)
        self.assertTrue(r.startswith("250 2.0.0"), r)
        c.close()
        qid = queued_id(r)
        INST.wait_log(rf"{qid}: client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=bob")
        out = postcat(qid)
        self.assertIn("with ESMTPA id " + qid, out)
        self.assertNotIn("Authenticated sender", out)  # smtpd_sasl_authenticated_header = no
        self.assertRegex(out, r"sasl_username.*bob")
        req = AUTH.requests[-1]
        self.assertIn("service=smtp", req)
        self.assertIn("rip=127.0.0.1", req)
        self.assertNotIn("secured", req)

    def test_wrong_password_and_unknown_mechanism(self):
        c = SmtpClient(PORTS["main"])
        c.ask("EHLO client.test")
        r = c.ask("AUTH PLAIN " + b64("\0bob\0wrong"))
        self.assertEqual(r, "535 5.7.8 Error: authentication failed: Password mismatch")
        INST.wait_log(r"warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed: Password mismatch, "
                      r"sasl_username=bob")
        r = c.ask("AUTH ANONYMOUS")
        self.assertEqual(r, "535 5.7.8 Error: authentication failed: Invalid authentication mechanism")
        self.assertTrue(c.ask("AUTH PLAIN not*base64").startswith("501 5.5.2"))
        self.assertTrue(c.ask("AUTH").startswith("501 5.5.4"))
        c.close()

    def test_auth_rate_limit(self):
        c = SmtpClient(PORTS["authrate"])
        c.ask("EHLO client.test")
        for _ in range(2):
            self.assertTrue(c.ask("AUTH PLAIN " + b64("\0bob\0wrong")).startswith("535"))
        # The third AUTH in the time unit is refused before it is tried.
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0wrong")),
                         "450 4.7.1 Error: too many AUTH commands from 127.0.0.1")
        c.close()
        INST.wait_log(r"warning: AUTH command rate limit exceeded: 3 from localhost\[127\.0\.0\.1\] "
                      rf"for service 127\.0\.0\.1:{PORTS['authrate']}")

    def test_login_dialogue_and_abort(self):
        c = SmtpClient(PORTS["main"])
        c.ask("EHLO client.test")
        self.assertEqual(c.ask("AUTH LOGIN"), "334 " + b64("Username:"))
        self.assertEqual(c.ask(b64("carol")), "334 " + b64("Password:"))
        self.assertEqual(c.ask(b64("pa ss")), "235 2.7.0 Authentication successful")
        c.close()
        c = SmtpClient(PORTS["main"])
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("AUTH LOGIN").startswith("334 "))
        self.assertEqual(c.ask("*"), "501 5.7.0 Authentication aborted")
        # PLAIN without an initial response: an empty challenge first.
        self.assertEqual(c.ask("AUTH PLAIN"), "334 ")
        self.assertEqual(c.ask(b64("\0bob\0secret")), "235 2.7.0 Authentication successful")
        c.close()

    def test_smtplib_login(self):
        with smtplib.SMTP("127.0.0.1", PORTS["header"], timeout=30) as s:
            s.ehlo("client.test")
            s.login("carol", "pa ss")
            s.mail("carol@client.test")
            s.rcpt("someone@remote.test")
            code, text = s.data(b"Subject: hi\r\n\r\nbody\r\n")
        self.assertEqual(code, 250)
        out = postcat(queued_id(text.decode()))
        self.assertIn("(Authenticated sender: carol)", out)

    def test_tls_only(self):
        c = SmtpClient(PORTS["tlsonly"])
        ehlo = c.ask("EHLO client.test")
        self.assertNotIn("AUTH", ehlo)
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0secret")), "503 5.5.1 Error: authentication not enabled")
        self.assertTrue(c.ask("STARTTLS").startswith("220"))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(ctx, HOST)
        self.assertIn("AUTH PLAIN LOGIN", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0secret")), "235 2.7.0 Authentication successful")
        self.assertIn("secured", AUTH.requests[-1])
        r = self.relay_message(c)
        self.assertTrue(r.startswith("250 2.0.0"), r)
        self.assertIn("with ESMTPSA id", postcat(queued_id(r)))
        c.close()

    def rcpt_after(self, service, sender, login=None):
        """The reply to RCPT TO:<alice@...> after MAIL FROM:<sender>, in a
        session of its own, logged in first as login (user, password) if given."""
        c = SmtpClient(PORTS[service])
        try:
            c.ask("EHLO client.test")
            if login:
                self.assertTrue(c.ask("AUTH PLAIN " + b64(f"\0{login[0]}\0{login[1]}")).startswith("235"))
            c.ask(f"MAIL FROM:<{sender}>")
            return c.ask("RCPT TO:<alice@mx.test.example>")
        finally:
            c.close()

    def test_sender_login_mismatch(self):
        # Not logged in: an address with an owner is refused.
        self.assertEqual(self.rcpt_after("owners", "bob@client.test"),
                         "553 5.7.1 <bob@client.test>: Sender address rejected: not logged in")
        self.assertEqual(self.rcpt_after("owners", "bob@client.test", ("carol", "pa ss")),
                         "553 5.7.1 <bob@client.test>: Sender address rejected: not owned by user carol")
        self.assertTrue(self.rcpt_after("owners", "bob@client.test", ("bob", "secret")).startswith("250"))

    def test_check_sasl_access(self):
        # Not logged in: nothing to look up.
        self.assertTrue(self.rcpt_after("saslaccess", "s@client.test").startswith("250"))
        self.assertEqual(self.rcpt_after("saslaccess", "s@client.test", ("carol", "pa ss")),
                         "554 5.7.1 <carol>: SASL login name rejected: account suspended")
        self.assertTrue(self.rcpt_after("saslaccess", "s@client.test", ("bob", "secret")).startswith("250"))

    def test_exceptions_networks_are_not_offered_auth(self):
        c = SmtpClient(PORTS["excepted"])
        self.assertNotIn("AUTH", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0secret")), "503 5.5.1 Error: authentication not enabled")
        c.close()

    def test_unreachable_auth_service(self):
        c = SmtpClient(PORTS["down"])
        self.assertNotIn("AUTH", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("AUTH PLAIN " + b64("\0bob\0secret")), "454 4.7.0 Temporary authentication failure")
        c.close()
        INST.wait_log(r"warning: SASL: Connect to \S+no-such-socket failed")

    def test_dovecot_sasl(self):
        """Debian's Dovecot as the authentication service, when installed."""
        dovecot = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
        if not dovecot or os.geteuid() != 0:
            self.skipTest("dovecot not installed (or not root)")
        d = os.path.join(INST.root, "dovecot")
        os.makedirs(os.path.join(d, "run"), exist_ok=True)
        passwd = os.path.join(d, "passwd")
        with open(passwd, "w") as f:
            f.write("dave:{PLAIN}hunter2::::::\n")
        conf = os.path.join(d, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"""protocols =
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
""")
        p = subprocess.Popen([dovecot, "-F", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sock = os.path.join(d, "run", "auth-client")
            wait_for(lambda: os.path.exists(sock), timeout=15, what="dovecot's auth socket")
            port = free_port()
            with open(INST.path("master.cf"), "a") as f:
                f.write(f"127.0.0.1:{port} inet n - n - - smtpd -o smtpd_sasl_path={sock}\n")
            INST.reload()
            wait_for(lambda: port_open(port), timeout=15, what="the dovecot smtpd service")
            c = SmtpClient(port)
            self.assertIn("AUTH PLAIN LOGIN", c.ask("EHLO client.test"))
            self.assertTrue(c.ask("AUTH PLAIN " + b64("\0dave\0nope")).startswith("535 5.7.8"))
            self.assertEqual(c.ask("AUTH PLAIN " + b64("\0dave\0hunter2")), "235 2.7.0 Authentication successful")
            c.close()
        finally:
            p.terminate()
            p.wait(15)


class SmtpClientSaslTest(unittest.TestCase):
    """Postern's smtp client logs in to INST's smtpd (which relays only for
    authenticated clients) with smtp_sasl_password_maps."""

    @classmethod
    def setUpClass(cls):
        global CLIENT
        cls.port = free_port()
        hop = f"[127.0.0.1]:{PORTS['main']}"
        CLIENT = Instance("saslclient")
        good, bad = CLIENT.path("sasl_passwd"), CLIENT.path("sasl_passwd_bad")
        with open(good, "w") as f:
            f.write(f"{hop} bob:secret\n")  # the next hop as written, as in Postfix's examples
        with open(bad, "w") as f:
            f.write("127.0.0.1 bob:wrong\n")  # the server's name
        per_sender = CLIENT.path("sasl_passwd_sender")
        with open(per_sender, "w") as f:
            # smtp_sender_dependent_authentication: the sender first, then @domain, then the host.
            f.write("alice@client.test bob:secret\n@client.test bob:wrong\n")
        with open(CLIENT.path("main.cf"), "a") as f:
            f.write(f"""
daemon_directory = {LIBEXEC}
myhostname = client.test.example
mydestination =
mynetworks = 127.0.0.0/8
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:{good}
smtp_sasl_tls_security_options = noanonymous
transport_maps = inline:{{ {{tls.test = authtls:{hop}}}, {{plain.test = smtp:{hop}}}, {{bad.test = authbad:{hop}}}, {{sender.test = authsender:{hop}}} }}
""")
        CLIENT.write_master_cf(queue_master_cf(cls.port, f"""smtp unix - - n - - smtp
authtls unix - - n - - smtp -o smtp_tls_security_level=may
authbad unix - - n - - smtp -o smtp_tls_security_level=may -o smtp_sasl_password_maps=texthash:{bad}
authsender unix - - n - - smtp -o smtp_tls_security_level=may -o smtp_sasl_password_maps=texthash:{per_sender}
  -o smtp_sender_dependent_authentication=yes
"""))
        CLIENT.start()
        wait_for(lambda: port_open(cls.port), timeout=15, what="the client instance's smtpd")

    def send(self, rcpt, sender="sender@client.test"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail(sender, [rcpt], f"Subject: to {rcpt}\r\n\r\nhello\r\n")

    def test_sender_dependent_authentication(self):
        self.send("a@sender.test", sender="alice@client.test")
        m = CLIENT.wait_log(r"to=<a@sender\.test>, relay=\S+, .*status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)", 30)
        INST.wait_log(rf"{m.group(1)}: client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=bob")
        # Another sender of the domain gets the @domain entry: refused.
        self.send("b@sender.test", sender="carol@client.test")
        CLIENT.wait_log(r"to=<b@sender\.test>, .*dsn=4\.7\.8, status=deferred \(SASL authentication failed", 30)

    def test_login_over_tls(self):
        self.send("x@tls.test")
        m = CLIENT.wait_log(r"to=<x@tls\.test>, relay=\S+, .*status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)", 30)
        qid = m.group(1)
        INST.wait_log(rf"{qid}: client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=bob")
        self.assertIn("with ESMTPSA id " + qid, postcat(qid))
        self.assertNotIn("secret", CLIENT.maillog())

    def test_no_plaintext_login_without_tls(self):
        # smtp_sasl_security_options defaults to noplaintext: PLAIN and LOGIN
        # are not used without TLS, so the relay is not reached.
        self.send("x@plain.test")
        CLIENT.wait_log(r"to=<x@plain\.test>, .*dsn=4\.7\.0, status=deferred \(SASL authentication failed; "
                        r"cannot authenticate to server 127\.0\.0\.1\[127\.0\.0\.1\]: no mechanism available\)", 30)

    def test_refused_login_is_deferred(self):
        self.send("x@bad.test")
        CLIENT.wait_log(r"to=<x@bad\.test>, .*dsn=4\.7\.8, status=deferred \(SASL authentication failed; server "
                        r"127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8 Error: authentication failed", 30)
        self.assertNotIn("wrong", CLIENT.maillog())



if __name__ == "__main__":
    unittest.main()
