"""smtpd's TLS (STARTTLS and wrapper mode) on a scratch instance.

Clients are Python's ssl module over raw sockets and smtplib, and OpenSSL's
s_client where one is installed; certificates are made with the openssl
command for each run. The private key is readable by its owner only: when
the tests run as root, smtpd must load it before it drops its privileges.
Messages are checked in the queue with postcat, log lines in the maillog.
"""
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import unittest

from harness import (LIBEXEC, NO_QMGR_FLOW, Instance, SmtpClient, free_port, port_open, queue_master_cf,
                     queued_id, smtpd_master_cf, wait_for)

HOST = "mx.test.example"
MAIN_CF = f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname, localhost
mynetworks = 192.0.2.0/24
local_recipient_maps = inline:{{alice=x}}
smtpd_tls_loglevel = 1
# The client tests (TlsClientTest) relay to these through this instance.
relay_domains = may.test, plain.test, required.test, fallback.test, wrap.test, verified.test,
    policy-secure.test, policy-fallback.test, policy-none.test, fingerprint.test, policy-fp.test,
    dane-ok.test, daneonly-ok.test, dane-insecure.test, dane-insecure-mx.test, dane-unusable.test, dane-ta.test,
    dane-ta-name.test
"""
LOCAL = f"alice@{HOST}"
PORTS = {}
SERVICES = {}
INST = None
CLIENT = None  # the sending instance of TlsClientTest


def make_certificate(directory, name, key_type):
    """A self-signed certificate and its key (PEM), made by openssl; returns
    (cert, key, chain) where chain holds the key followed by the cert."""
    key, cert = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    newkey = ["-newkey", "rsa:2048"] if key_type == "rsa" else ["-newkey", "ec", "-pkeyopt",
                                                                 "ec_paramgen_curve:prime256v1"]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-keyout", key,
                    "-out", cert] + newkey, check=True, capture_output=True)
    os.chmod(key, 0o600)
    chain = os.path.join(directory, f"{name}.chain.pem")
    with open(chain, "w") as out:
        for part in (key, cert):
            with open(part) as f:
                out.write(f.read())
    os.chmod(chain, 0o600)
    return cert, key, chain


def make_ca_chain(directory, san=None):
    """A CA and a certificate for HOST that it issued (rsa, by openssl; its
    subjectAltName `san`, default DNS:HOST): returns (chain, ca) where chain
    holds the key, the certificate and the CA's certificate, as a server
    sends them. The leaf's own files are leaf.key and leaf.crt."""
    j = lambda name: os.path.join(directory, name)
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)
    run("req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=Postern test CA", "-newkey", "rsa:2048",
        "-keyout", j("ca.key"), "-out", j("ca.crt"), "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-nodes", "-subj", f"/CN={HOST}", "-newkey", "rsa:2048", "-keyout", j("leaf.key"),
        "-out", j("leaf.csr"))
    with open(j("leaf.ext"), "w") as f:
        f.write(f"subjectAltName={san or 'DNS:' + HOST}\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", j("leaf.csr"), "-CA", j("ca.crt"), "-CAkey", j("ca.key"), "-CAcreateserial",
        "-days", "2", "-out", j("leaf.crt"), "-extfile", j("leaf.ext"))
    chain = j("leaf.chain.pem")
    with open(chain, "w") as out:
        for part in ("leaf.key", "leaf.crt", "ca.crt"):
            with open(j(part)) as f:
                out.write(f.read())
    os.chmod(chain, 0o600)
    os.chmod(j("leaf.key"), 0o600)
    return chain, j("ca.crt")


def setUpModule():
    global INST
    if not shutil.which("openssl"):
        raise unittest.SkipTest("the openssl command is not installed")
    INST = Instance("tls", main_cf_extra=MAIN_CF + NO_QMGR_FLOW)
    cert, key, chain = make_certificate(INST.root, "rsa", "rsa")
    _, _, ec_chain = make_certificate(INST.root, "ec", "ec")
    other_cert, _, _ = make_certificate(INST.root, "other", "ec")
    ca_chain, _ = make_ca_chain(INST.root)
    files = f"-o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key}"
    SERVICES.update({
        "plain": "",
        "may": f"-o smtpd_tls_security_level=may {files}",
        "encrypt": f"-o smtpd_tls_security_level=encrypt {files}",
        "wrapper": f"-o smtpd_tls_wrappermode=yes {files} -o smtpd_tls_received_header=yes",
        "chain": f"-o smtpd_tls_security_level=may -o {{smtpd_tls_chain_files = {ec_chain}, {chain}}}",
        "tls12": f"-o smtpd_tls_security_level=may {files} -o smtpd_tls_protocols=<=TLSv1.2",
        "lenient": f"-o smtpd_tls_security_level=may {files} -o smtpd_forbid_unauth_pipelining=no",
        "nocert": "-o smtpd_tls_security_level=may",
        "mismatch": f"-o smtpd_tls_security_level=may -o smtpd_tls_cert_file={other_cert} "
                    f"-o smtpd_tls_key_file={key}",
        "encryptnocert": "-o smtpd_tls_security_level=encrypt",
        "cachain": f"-o smtpd_tls_security_level=may -o smtpd_tls_chain_files={ca_chain}",
    })
    INST.write_master_cf(smtpd_master_cf(SERVICES, PORTS))
    INST.start()


def tearDownModule():
    if CLIENT:
        CLIENT.cleanup()
    if INST:
        INST.cleanup()


def client_context():
    # Opportunistic TLS, as between MTAs: no verification of the server.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Conn(SmtpClient):
    """A raw SMTP connection that can switch to TLS (no verification)."""

    def __init__(self, port, banner=True, wrap=False):
        super().__init__(port, banner=banner, wrap=client_context() if wrap else None, server_hostname=HOST)

    def starttls(self):
        super().starttls(client_context(), HOST)


def postcat(qid):
    return INST.cmd("postcat", ["-q", qid]).stdout


class TlsTest(unittest.TestCase):
    def send_message(self, c):
        self.assertTrue(c.ask("MAIL FROM:<sender@client.test>").startswith("250 2.1.0"))
        self.assertTrue(c.ask(f"RCPT TO:<{LOCAL}>").startswith("250 2.1.5"))
        self.assertTrue(c.ask("DATA").startswith("354"))
        c.send("Subject: tls\r\n\r\nover TLS\r\n.\r\n")
        r = c.reply()
        self.assertTrue(r.startswith("250 2.0.0"), r)
        return queued_id(r)

    def test_starttls_offered_used_and_logged(self):
        c = Conn(PORTS["may"])
        ehlo = c.ask("EHLO client.test")
        self.assertIn("250-STARTTLS", ehlo.replace("250 STARTTLS", "250-STARTTLS"))
        self.assertEqual(c.ask("STARTTLS"), "220 2.0.0 Ready to start TLS")
        c.starttls()
        self.assertEqual(c.s.version(), "TLSv1.3")
        ehlo = c.ask("EHLO client.test")
        self.assertTrue(ehlo.startswith("250"), ehlo)
        self.assertNotIn("STARTTLS", ehlo)  # offered once
        self.assertEqual(c.ask("STARTTLS"), "554 5.5.1 Error: TLS already active")
        qid = self.send_message(c)
        self.assertEqual(c.ask("QUIT"), "221 2.0.0 Bye")
        c.close()
        out = postcat(qid)
        self.assertRegex(out, r"by mx\.test\.example \(Postern\) with ESMTPS id " + qid)
        # smtpd_tls_received_header = no (the default): no TLS details.
        self.assertNotIn("using TLS", out)
        INST.wait_log(r"Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.3 with cipher "
                      r"TLS_\S+ \(\d+/\d+ bits\)")
        INST.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=2 starttls=1/2 mail=1 rcpt=1 data=1 quit=1")

    def test_smtplib_starttls(self):
        with smtplib.SMTP("127.0.0.1", PORTS["may"], timeout=20) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("starttls"))
            s.starttls(context=client_context())
            s.ehlo("client.test")
            refused = s.sendmail("sender@client.test", [LOCAL], b"Subject: smtplib\r\n\r\nhello\r\n")
            self.assertEqual(refused, {})

    def test_state_is_forgotten_after_starttls(self):
        # RFC 3207 4.2: a transaction begun before TLS is gone after it.
        c = Conn(PORTS["may"])
        c.ask("EHLO client.test")
        self.assertTrue(c.ask("MAIL FROM:<early@client.test>").startswith("250"))
        self.assertTrue(c.ask("STARTTLS").startswith("220"))
        c.starttls()
        r = c.ask(f"RCPT TO:<{LOCAL}>")
        self.assertTrue(r.startswith("503"), r)
        c.close()

    def test_plaintext_behind_starttls_is_not_executed(self):
        # CVE-2011-0411: a command sent with STARTTLS in one packet must not
        # run inside the TLS session. Default settings end the session.
        c = Conn(PORTS["may"])
        c.ask("EHLO client.test")
        c.send("STARTTLS\r\nRSET\r\n")
        r = c.reply()
        self.assertTrue(r.startswith("554 5.5.0") or r.startswith("220"), r)
        c.close()
        # With smtpd_forbid_unauth_pipelining = no the extra command is
        # dropped unread: the first reply inside TLS answers our EHLO.
        c = Conn(PORTS["lenient"])
        c.ask("EHLO client.test")
        c.send("STARTTLS\r\nMAIL FROM:<injected@client.test>\r\n")
        self.assertEqual(c.reply(), "220 2.0.0 Ready to start TLS")
        c.starttls()
        ehlo = c.ask("EHLO client.test")
        self.assertTrue(ehlo.startswith("250-"), ehlo)
        r = c.ask(f"RCPT TO:<{LOCAL}>")
        self.assertTrue(r.startswith("503"), r)  # no MAIL FROM is in effect
        c.close()

    def test_encrypt_requires_starttls(self):
        c = Conn(PORTS["encrypt"])
        self.assertIn("STARTTLS", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("MAIL FROM:<sender@client.test>"), "530 5.7.0 Must issue a STARTTLS command first")
        self.assertEqual(c.ask("VRFY alice"), "530 5.7.0 Must issue a STARTTLS command first")
        self.assertTrue(c.ask("STARTTLS").startswith("220"))
        c.starttls()
        c.ask("EHLO client.test")
        self.assertTrue(self.send_message(c))
        c.close()

    def test_wrapper_mode(self):
        c = Conn(PORTS["wrapper"], wrap=True)
        self.assertTrue(c.banner.startswith("220 "), c.banner)
        self.assertNotIn("STARTTLS", c.ask("EHLO client.test"))
        qid = self.send_message(c)
        c.close()
        # smtpd_tls_received_header = yes: Postfix's TLS comment lines.
        out = postcat(qid)
        self.assertRegex(out, r"\(using TLSv1\.3 with cipher \S+ \(\d+/\d+ bits\)\)")
        self.assertIn("(No client certificate requested)", out)
        self.assertIn("with ESMTPS id", out)

    def test_wrapper_mode_plaintext_client_fails_handshake(self):
        c = Conn(PORTS["wrapper"], banner=False)
        c.send("EHLO client.test\r\n")
        c.s.settimeout(10)
        try:
            data = c.s.recv(4096)
        except OSError:
            data = b""
        self.assertFalse(data.startswith(b"220"), data)
        c.close()
        INST.wait_log(r"SSL_accept error from localhost\[127\.0\.0\.1\]")
        INST.wait_log(r"lost connection after CONNECT from localhost\[127\.0\.0\.1\]")

    def test_chain_files_serve_both_key_types(self):
        for ciphers, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDSA"), ("ECDHE-RSA-AES128-GCM-SHA256", "RSA")):
            ctx = client_context()
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(ciphers)
            c = Conn(PORTS["chain"])
            c.ask("EHLO client.test")
            self.assertTrue(c.ask("STARTTLS").startswith("220"))
            c.s = ctx.wrap_socket(c.s, server_hostname=HOST)
            self.assertIn(want, c.s.cipher()[0])
            self.assertTrue(c.ask("EHLO client.test").startswith("250"))
            c.close()

    def test_protocol_list_bounds_the_version(self):
        c = Conn(PORTS["tls12"])
        c.ask("EHLO client.test")
        c.ask("STARTTLS")
        c.starttls()
        self.assertEqual(c.s.version(), "TLSv1.2")
        c.close()
        # A client that insists on TLS 1.3 cannot connect.
        ctx = client_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        c = Conn(PORTS["tls12"])
        c.ask("EHLO client.test")
        c.ask("STARTTLS")
        with self.assertRaises(ssl.SSLError):
            ctx.wrap_socket(c.s, server_hostname=HOST)
        c.close()
        INST.wait_log(r"SSL_accept error from localhost\[127\.0\.0\.1\]")

    def test_no_usable_certificate_means_no_starttls(self):
        for name, why in (("nocert", r"No server certs available\. TLS won't be enabled"),
                          ("mismatch", r"TLS won't be enabled: the private key in \S+ does not match")):
            c = Conn(PORTS[name])
            self.assertNotIn("STARTTLS", c.ask("EHLO client.test"))
            self.assertEqual(c.ask("STARTTLS"), "454 4.7.0 TLS not available due to local problem")
            c.close()
            INST.wait_log(why)
        c = Conn(PORTS["plain"])
        self.assertNotIn("STARTTLS", c.ask("EHLO client.test"))
        self.assertEqual(c.ask("STARTTLS"), "502 5.5.1 Error: command not implemented")
        c.close()

    def test_required_tls_without_certificate_refuses_to_serve(self):
        # "encrypt" with no certificate: smtpd must not take mail in plain
        # text. It exits at start, and the master logs why.
        try:
            c = Conn(PORTS["encryptnocert"], banner=False)
            c.s.settimeout(5)
            try:
                data = c.s.recv(100)
            except OSError:
                data = b""
            self.assertFalse(data.startswith(b"220"), data)
            c.close()
        except OSError:
            pass
        INST.wait_log(r"No server certs available\. TLS can't be enabled")

    def test_new_tls_session_rate_limit(self):
        # smtpd_client_new_tls_session_rate_limit = 1 through a real anvil:
        # the first new session passes, the second is counted and refused
        # inside TLS (421), the third is refused before its handshake (454).
        port = free_port()
        cert, key = os.path.join(INST.root, "rsa.crt"), os.path.join(INST.root, "rsa.key")
        inst = Instance("tlsrate", main_cf_extra=MAIN_CF + NO_QMGR_FLOW + "anvil_rate_time_unit = 60s\n")
        self.addCleanup(inst.cleanup)
        inst.write_master_cf("# service type private unpriv chroot wakeup maxproc command\n"
                             f"127.0.0.1:{port} inet n - n - - smtpd -o smtpd_tls_security_level=may "
                             f"-o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key} "
                             "-o smtpd_client_new_tls_session_rate_limit=1\n"
                             "anvil unix - - n - 1 anvil\ncleanup unix n - n - 0 cleanup\n")
        inst.start()
        wait_for(lambda: port_open(port), timeout=15, what="smtpd")

        def session():
            c = Conn(port)
            try:
                c.ask("EHLO client.test")
                r = c.ask("STARTTLS")
                if not r.startswith("220"):
                    return r
                c.starttls()
                return c.ask("EHLO client.test")
            finally:
                c.close()
        self.assertTrue(session().startswith("250-"))
        self.assertEqual(session(), "421 4.7.0 mx.test.example Error: too many new TLS sessions from 127.0.0.1")
        self.assertEqual(session(), "454 4.7.0 Error: too many new TLS sessions from 127.0.0.1")
        inst.wait_log(r"warning: New TLS session rate limit exceeded: 2 from localhost\[127\.0\.0\.1\] for "
                      r"service 127\.0\.0\.1:\d+")

    def test_openssl_s_client_starttls(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl not installed")
        # One command at a time: EHLO may not be pipelined (smtpd would end
        # the session with a synchronization error, as Postfix does).
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{PORTS['may']}", "-starttls", "smtp",
                              "-quiet", "-crlf"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        p.stdin.write("EHLO client.test\n")
        p.stdin.flush()
        time.sleep(1)
        out, _ = p.communicate("QUIT\n", timeout=30)
        self.assertIn("250 ", out)
        self.assertIn("221 2.0.0 Bye", out)


def smtpd_pids(inst, port):
    """The smtpd processes of `inst` that serve 127.0.0.1:port."""
    return [pid for pid, argv in inst.processes().items()
            if argv[0].endswith("/smtpd") and f"127.0.0.1:{port}" in argv]


def maps_openssl(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "/libssl.so" in f.read()


class LazyOpenSslTest(unittest.TestCase):
    """OpenSSL is loaded when TLS is first used (src/lib/tls/lazy_openssl.cpp),
    not at every exec: a server without TLS never maps it; one with TLS does
    before its chroot, where the library could no longer be found."""

    def live_smtpd(self, inst, port):
        c = Conn(port)
        self.addCleanup(c.close)
        self.assertTrue(c.ask("EHLO client.test").startswith("250"))
        pids = smtpd_pids(inst, port)
        self.assertEqual(len(pids), 1, pids)
        return c, pids[0]

    def test_server_without_tls_does_not_load_openssl(self):
        r = subprocess.run(["ldd", os.path.join(LIBEXEC, "smtpd")], capture_output=True, text=True)
        if "libssl" in r.stdout:
            self.skipTest("this build links OpenSSL (POSTERN_LAZY_OPENSSL=OFF)")
        _, plain = self.live_smtpd(INST, PORTS["plain"])
        self.assertFalse(maps_openssl(plain))
        _, may = self.live_smtpd(INST, PORTS["may"])
        self.assertTrue(maps_openssl(may))

    def test_starttls_in_a_chroot(self):
        if os.geteuid() != 0:
            self.skipTest("chroot needs root")
        port = free_port()
        cert, key = os.path.join(INST.root, "rsa.crt"), os.path.join(INST.root, "rsa.key")
        inst = Instance("tlschroot", main_cf_extra=MAIN_CF + NO_QMGR_FLOW)
        self.addCleanup(inst.cleanup)
        inst.write_master_cf("# service type private unpriv chroot wakeup maxproc command\n"
                             f"127.0.0.1:{port} inet n - y - - smtpd -o smtpd_tls_security_level=may "
                             f"-o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key} "
                             "-o smtpd_peername_lookup=no\n"
                             "cleanup unix n - n - 0 cleanup\n")
        inst.start()
        wait_for(lambda: port_open(port), timeout=15, what="smtpd")
        c, pid = self.live_smtpd(inst, port)
        self.assertEqual(os.readlink(f"/proc/{pid}/root"), os.path.realpath(inst.queue))
        self.assertEqual(c.ask("STARTTLS"), "220 2.0.0 Ready to start TLS")
        c.starttls()
        self.assertTrue(c.ask("EHLO client.test").startswith("250"))
        self.assertEqual(c.ask("QUIT"), "221 2.0.0 Bye")


class LmtpServer:
    """An LMTP server on 127.0.0.1 with STARTTLS (INST's rsa certificate)
    unless starttls=False; records each message and whether it came over TLS,
    and the name each TLS client sent as SNI (None for none). It answers EHLO
    as well, so it serves as a plain SMTP server too."""

    def __init__(self, starttls=True, unix_path=None):
        self.starttls = starttls
        self.messages = []  # (tls, data)
        self.sni = []       # per TLS handshake: the server name the client sent, or None
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            os.chmod(unix_path, 0o666)  # the lmtp client runs unprivileged
            self.port = None
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(os.path.join(INST.root, "rsa.crt"), os.path.join(INST.root, "rsa.key"))
        self.ctx.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.sock.close()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def _session(self, c):
        tls = False
        f = c.makefile("rb")
        try:
            c.sendall(b"220 lmtp.test LMTP\r\n")
            rcpts = 0
            while True:
                line = f.readline(4096)
                if not line:
                    return
                verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper().split(":")[0]
                if verb in ("LHLO", "EHLO"):
                    kws = ["PIPELINING", "8BITMIME"] + (["STARTTLS"] if self.starttls and not tls else [])
                    lines = ["lmtp.test"] + kws
                    c.sendall("".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}\r\n"
                                      for i, l in enumerate(lines)).encode())
                elif verb == "STARTTLS" and self.starttls and not tls:
                    c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    c = self.ctx.wrap_socket(c, server_side=True)
                    f = c.makefile("rb")
                    tls = True
                elif verb == "MAIL":
                    rcpts = 0
                    c.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    rcpts += 1
                    c.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    c.sendall(b"354 go ahead\r\n")
                    data = b""
                    while True:
                        l = f.readline(1 << 20)
                        if not l or l == b".\r\n":
                            break
                        data += l
                    self.messages.append((tls, data))
                    c.sendall(b"250 2.0.0 Ok: delivered\r\n" * rcpts)
                elif verb == "QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    c.sendall(b"250 2.0.0 Ok\r\n" if verb == "RSET" else b"502 5.5.2 Error\r\n")
        except OSError:
            return
        finally:
            c.close()


def fingerprints(cert):
    """The SHA-256 fingerprints of a certificate and of its public key, in
    Postfix's form, computed without Postern."""
    import hashlib
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                          capture_output=True).stdout
    form = lambda d: ":".join(f"{b:02X}" for b in hashlib.sha256(d).digest())
    return form(der), form(spki)


def client_master_cf(port, ca, other_ca, policy="", dns=""):
    # One smtp transport per client setting; transport_maps picks one per
    # recipient domain, each pointing at one of INST's smtpd services.
    return queue_master_cf(port, f"""smtp unix - - n - - smtp
tlsmay unix - - n - - smtp -o smtp_tls_security_level=may
tlsenc unix - - n - - smtp -o smtp_tls_security_level=encrypt
tls13 unix - - n - - smtp -o smtp_tls_security_level=may -o smtp_tls_protocols=TLSv1.3
tlswrap unix - - n - - smtp -o smtp_tls_wrappermode=yes
tlsverify unix - - n - - smtp -o smtp_tls_security_level=verify -o smtp_tls_CAfile={ca}
  -o smtp_tls_verify_cert_match=mx.test.example
tlsmismatch unix - - n - - smtp -o smtp_tls_security_level=verify -o smtp_tls_CAfile={ca}
  -o smtp_tls_verify_cert_match=other.example
tlsuntrusted unix - - n - - smtp -o smtp_tls_security_level=secure -o smtp_tls_CAfile={other_ca}
tlspolicy unix - - n - - smtp -o smtp_tls_policy_maps=texthash:{policy} -o smtp_tls_CAfile={ca}
tlsfp unix - - n - - smtp -o smtp_tls_security_level=fingerprint
  -o {{smtp_tls_fingerprint_cert_match = 00:11, {fingerprints(ca)[0].lower()}}}
tlsfpbad unix - - n - - smtp -o smtp_tls_security_level=fingerprint
  -o smtp_tls_fingerprint_cert_match={fingerprints(other_ca)[0]}
dane unix - - n - - smtp -o smtp_tls_security_level=dane -o smtp_dns_support_level=dnssec
  -o dns_resolver_address={dns}
daneonly unix - - n - - smtp -o smtp_tls_security_level=dane-only -o smtp_dns_support_level=dnssec
  -o dns_resolver_address={dns}
snihost unix - - n - - smtp -o smtp_tls_security_level=encrypt -o smtp_tls_servername=hostname
  -o dns_resolver_address={dns}
sninexthop unix - - n - - smtp -o smtp_tls_security_level=encrypt -o smtp_tls_servername=nexthop
  -o dns_resolver_address={dns}
snilit unix - - n - - smtp -o smtp_tls_security_level=may -o smtp_tls_servername=relay.example.net
  -o dns_resolver_address={dns}
snipolicy unix - - n - - smtp -o smtp_tls_servername=hostname -o dns_resolver_address={dns}
  -o smtp_tls_policy_maps=texthash:{policy}
snidefault unix - - n - - smtp -o smtp_tls_security_level=encrypt -o dns_resolver_address={dns}
sniaddr unix - - n - - smtp -o smtp_tls_security_level=encrypt -o smtp_tls_servername=hostname
lmtpsni unix - - n - - lmtp -o lmtp_tls_security_level=encrypt -o lmtp_tls_servername=lmtp.example.net
lmtpenc unix - - n - - lmtp -o lmtp_tls_security_level=encrypt -o lmtp_tls_loglevel=1
lmtpverify unix - - n - - lmtp -o lmtp_tls_security_level=verify -o lmtp_tls_CAfile={ca}
  -o lmtp_tls_verify_cert_match=mx.test.example -o lmtp_tls_loglevel=1
lmtpcache unix - - n - - lmtp -o lmtp_tls_security_level=encrypt -o lmtp_connection_cache_destinations=127.0.0.1
  -o lmtp_connection_cache_time_limit=60s
lmtpcachetls unix - - n - - lmtp -o lmtp_tls_security_level=encrypt -o lmtp_connection_cache_destinations=127.0.0.1
  -o lmtp_connection_cache_time_limit=60s -o lmtp_tls_connection_reuse=yes
""")


def dane_zone(port):
    """A DNS server for the DANE tests: MX hosts on 127.0.0.1 (the "may"
    service, port `port`, with INST's rsa certificate), validated (AD) or
    not, and their TLSA records."""
    from fakedns import FakeDns, a, mx, tlsa
    spki = bytes.fromhex(fingerprints(os.path.join(INST.root, "rsa.crt"))[1].replace(":", ""))
    dns = FakeDns()
    # domain, MX validated, host address validated, TLSA record (None: SERVFAIL)
    for domain, mx_secure, host_secure, record in [
            ("dane-ok.test", True, True, tlsa(3, 1, 1, spki)),
            ("dane-bad.test", True, True, tlsa(3, 1, 1, bytes(32))),
            ("dane-insecure.test", False, False, tlsa(3, 1, 1, bytes(32))),
            ("dane-insecure-mx.test", False, True, tlsa(3, 1, 1, spki)),
            ("dane-unusable.test", True, True, tlsa(1, 1, 1, spki)),  # PKIX-EE: not for SMTP
            ("dane-servfail.test", True, True, None)]:
        host = "mx." + domain
        dns.add(domain, "MX", mx(10, host), secure=mx_secure)
        dns.add(host, "A", a("127.0.0.1"), secure=host_secure)
        name = f"_{port}._tcp.{host}"
        if record is None:
            dns.servfail.add(name)
        else:
            dns.add(name, "TLSA", record, secure=True)
    # DANE-TA(2): the "cachain" service's CA (its public key); the
    # certificate it issued names HOST, which must be the TLSA base domain
    # (or the next-hop domain).
    ca = bytes.fromhex(fingerprints(os.path.join(INST.root, "ca.crt"))[1].replace(":", ""))
    ta_port = PORTS["cachain"]
    dns.add("dane-ta.test", "MX", mx(10, HOST), secure=True)
    dns.add(HOST, "A", a("127.0.0.1"), secure=True)
    dns.add(f"_{ta_port}._tcp.{HOST}", "TLSA", tlsa(2, 1, 1, ca), secure=True)
    dns.add("dane-ta-name.test", "MX", mx(10, "mx.dane-ta-name.test"), secure=True)
    dns.add("mx.dane-ta-name.test", "A", a("127.0.0.1"), secure=True)
    dns.add(f"_{ta_port}._tcp.mx.dane-ta-name.test", "TLSA", tlsa(2, 1, 1, ca), secure=True)
    return dns


class TlsClientTest(unittest.TestCase):
    """Postern's smtp client against INST's smtpd services."""

    @classmethod
    def setUpClass(cls):
        global CLIENT
        cls.port = free_port()
        hop = lambda name: f"[127.0.0.1]:{PORTS[name]}"
        cls.lmtp = LmtpServer()
        cls.lmtp_plain = LmtpServer(starttls=False)
        cls.lmtp_unix_path = os.path.join(INST.root, "lmtp.sock")
        cls.lmtp_unix = LmtpServer(unix_path=cls.lmtp_unix_path)
        cls.lmtp_cache = LmtpServer()
        cls.lmtp_cache_tls = LmtpServer()
        cls.dns = dane_zone(PORTS["may"])
        # SNI: one server per case, so that each handshake it saw is that
        # case's; their next hops are domains whose MX host is mx.<domain>.
        from fakedns import a, mx
        cls.sni = {k: LmtpServer() for k in ("host", "nexthop", "bracket", "lit", "policy", "default", "addr", "lmtp")}
        for k in ("host", "nexthop", "bracket", "lit", "policy", "default"):
            cls.dns.add(f"sni-{k}.test", "MX", mx(10, f"mx.sni-{k}.test"))
            cls.dns.add(f"mx.sni-{k}.test", "A", a("127.0.0.1"))
        # smtp_tls_policy_maps of the "tlspolicy" transport, whose own
        # level is main.cf's default (none): one entry per next hop.
        policy = os.path.join(INST.root, "tls_policy")
        with open(policy, "w") as f:
            f.write(f"{hop('plain')} encrypt\n"
                    f"{hop('may')} secure match=mx.test.example\n"
                    f"{hop('tls12')} may protocols=TLSv1.3\n"
                    f"{hop('lenient')} encrypt color=blue\n"
                    f"{hop('encrypt')} fingerprint match=AA:BB|{fingerprints(os.path.join(INST.root, 'rsa.crt'))[1]}\n"
                    f"sni-policy.test:{cls.sni['policy'].port} encrypt servername=nexthop\n")
        main_cf = f"""
daemon_directory = {LIBEXEC}
myhostname = client.test.example
mydestination =
mynetworks = 127.0.0.0/8
smtp_tls_loglevel = 1
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
transport_maps = inline:{{ {{may.test = tlsmay:{hop("may")}}}, {{plain.test = tlsmay:{hop("plain")}}},
    {{required.test = tlsenc:{hop("plain")}}}, {{fallback.test = tls13:{hop("tls12")}}},
    {{wrap.test = tlswrap:{hop("wrapper")}}}, {{verified.test = tlsverify:{hop("may")}}},
    {{mismatch.test = tlsmismatch:{hop("may")}}}, {{untrusted.test = tlsuntrusted:{hop("may")}}},
    {{policy-required.test = tlspolicy:{hop("plain")}}}, {{policy-secure.test = tlspolicy:{hop("may")}}},
    {{policy-fallback.test = tlspolicy:{hop("tls12")}}}, {{policy-invalid.test = tlspolicy:{hop("lenient")}}},
    {{policy-none.test = tlspolicy:{hop("chain")}}}, {{policy-fp.test = tlspolicy:{hop("encrypt")}}},
    {{fingerprint.test = tlsfp:{hop("may")}}}, {{badfp.test = tlsfpbad:{hop("may")}}},
    {{dane-ok.test = dane:dane-ok.test:{PORTS["may"]}}}, {{dane-bad.test = dane:dane-bad.test:{PORTS["may"]}}},
    {{dane-insecure.test = dane:dane-insecure.test:{PORTS["may"]}}},
    {{dane-insecure-mx.test = dane:dane-insecure-mx.test:{PORTS["may"]}}},
    {{dane-ta.test = dane:dane-ta.test:{PORTS["cachain"]}}},
    {{dane-ta-name.test = dane:dane-ta-name.test:{PORTS["cachain"]}}},
    {{dane-unusable.test = dane:dane-unusable.test:{PORTS["may"]}}},
    {{dane-servfail.test = dane:dane-servfail.test:{PORTS["may"]}}},
    {{daneonly-ok.test = daneonly:[mx.dane-ok.test]:{PORTS["may"]}}},
    {{daneonly-insecure.test = daneonly:dane-insecure.test:{PORTS["may"]}}},
    {{sni-host.test = snihost:sni-host.test:{cls.sni["host"].port}}},
    {{sni-nexthop.test = sninexthop:sni-nexthop.test:{cls.sni["nexthop"].port}}},
    {{sni-bracket.test = sninexthop:[mx.sni-bracket.test]:{cls.sni["bracket"].port}}},
    {{sni-lit.test = snilit:sni-lit.test:{cls.sni["lit"].port}}},
    {{sni-policy.test = snipolicy:sni-policy.test:{cls.sni["policy"].port}}},
    {{sni-default.test = snidefault:sni-default.test:{cls.sni["default"].port}}},
    {{sni-addr.test = sniaddr:[127.0.0.1]:{cls.sni["addr"].port}}},
    {{lmtp-sni.test = lmtpsni:inet:127.0.0.1:{cls.sni["lmtp"].port}}},
    {{lmtp-tls.test = lmtpenc:inet:127.0.0.1:{cls.lmtp.port}}},
    {{lmtp-plain.test = lmtpenc:inet:127.0.0.1:{cls.lmtp_plain.port}}},
    {{lmtp-verify.test = lmtpverify:inet:127.0.0.1:{cls.lmtp.port}}},
    {{lmtp-unix.test = lmtpenc:unix:{cls.lmtp_unix_path}}},
    {{lmtp-cache.test = lmtpcache:inet:127.0.0.1:{cls.lmtp_cache.port}}},
    {{lmtp-cache-tls.test = lmtpcachetls:inet:127.0.0.1:{cls.lmtp_cache_tls.port}}} }}
"""
        CLIENT = Instance("tlsclient", main_cf_extra=main_cf, master_cf=client_master_cf(cls.port, os.path.join(INST.root, "rsa.crt"),
                                                                  os.path.join(INST.root, "ec.crt"), policy,
                                                                  cls.dns.address))
        CLIENT.start()
        wait_for(lambda: port_open(cls.port), timeout=15, what="the client instance's smtpd")

    @classmethod
    def tearDownClass(cls):
        cls.dns.close()
        cls.lmtp.close()
        cls.lmtp_plain.close()
        cls.lmtp_unix.close()
        cls.lmtp_cache.close()
        cls.lmtp_cache_tls.close()
        for server in cls.sni.values():
            server.close()

    def send(self, rcpt):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("sender@client.test", [rcpt], f"Subject: to {rcpt}\r\n\r\nhello\r\n")

    def arrived(self, rcpt):
        """The queue ID of the message for rcpt in INST's queue (it has no
        qmgr: messages stay in incoming/), once it is there."""
        def find():
            for qid in re.findall(rf"(\w+): to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, "
                                  r".*status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)", CLIENT.maillog()):
                return qid[1]
            return None
        return wait_for(find, timeout=30, what=f"delivery to {rcpt}")

    def test_may_uses_starttls_when_offered(self):
        self.send("x@may.test")
        qid = self.arrived("x@may.test")
        self.assertIn("with ESMTPS id " + qid, postcat(qid))
        CLIENT.wait_log(r"Untrusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.3 "
                        r"with cipher \S+ \(\d+/\d+ bits\)")

    def test_verify_checks_the_chain_and_the_name(self):
        # The "may" service's certificate is self-signed for mx.test.example
        # and is this transport's trust anchor.
        self.send("x@verified.test")
        qid = self.arrived("x@verified.test")
        self.assertIn("with ESMTPS id " + qid, postcat(qid))
        CLIENT.wait_log(r"Verified TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.3")
        self.send("x@mismatch.test")
        CLIENT.wait_log(r"to=<x@mismatch\.test>, .*dsn=4\.7\.5, status=deferred \(Server certificate not verified\)",
                        30)
        CLIENT.wait_log(r"server certificate verification failed for 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: "
                        r"num=62:hostname mismatch")
        # secure: another CA does not vouch for it (and no plain text then).
        self.send("x@untrusted.test")
        CLIENT.wait_log(r"to=<x@untrusted\.test>, .*dsn=4\.7\.5, status=deferred \(Server certificate not "
                        r"verified\)", 30)
        self.assertNotRegex(CLIENT.maillog(), r"to=<x@(mismatch|untrusted)\.test>.*status=sent")

    def test_fingerprint_level(self):
        # The "may" service's certificate, by its fingerprint (main.cf's
        # list, written in lower case here), with no CA to vouch for it.
        self.send("x@fingerprint.test")
        qid = self.arrived("x@fingerprint.test")
        self.assertIn("with ESMTPS id " + qid, postcat(qid))
        CLIENT.wait_log(rf"Verified TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:{PORTS['may']}: "
                        r"TLSv1\.3")
        # Another certificate's fingerprint: deferred, never sent.
        self.send("x@badfp.test")
        CLIENT.wait_log(r"to=<x@badfp\.test>, .*dsn=4\.7\.5, status=deferred \(Server certificate not verified\)",
                        30)
        CLIENT.wait_log(r"server certificate verification failed for 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: "
                        r"fingerprint mismatch \(certificate ([0-9A-F]{2}:){31}[0-9A-F]{2}, public key ")
        self.assertNotRegex(CLIENT.maillog(), r"to=<x@badfp\.test>.*status=sent")
        # A policy table entry with the public key's fingerprint.
        self.send("x@policy-fp.test")
        qid = self.arrived("x@policy-fp.test")
        self.assertIn("with ESMTPS id " + qid, postcat(qid))

    def test_may_sends_in_plain_text_when_not_offered(self):
        self.send("x@plain.test")
        qid = self.arrived("x@plain.test")
        self.assertIn("with ESMTP id " + qid, postcat(qid))

    def test_encrypt_defers_when_not_offered(self):
        self.send("x@required.test")
        CLIENT.wait_log(r"to=<x@required\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*dsn=4\.7\.4, "
                        r"status=deferred \(TLS is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]\)")
        self.assertNotRegex(CLIENT.maillog(), r"to=<x@required\.test>.*status=sent")

    def test_failed_handshake_falls_back_to_plain_text(self):
        # The server speaks at most TLS 1.2, this client only TLS 1.3.
        self.send("x@fallback.test")
        qid = self.arrived("x@fallback.test")
        self.assertIn("with ESMTP id " + qid, postcat(qid))
        log = CLIENT.maillog()
        self.assertRegex(log, r"SSL_connect error to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+")
        self.assertRegex(log, r"TLS handshake failed; trying again without TLS")

    def test_wrapper_mode(self):
        self.send("x@wrap.test")
        qid = self.arrived("x@wrap.test")
        out = postcat(qid)
        self.assertIn("with ESMTPS id " + qid, out)
        self.assertRegex(out, r"\(using TLSv1\.3 with cipher")


    def test_policy_table_sets_each_next_hops_level(self):
        # main.cf says none; the table asks for encrypt: a server without
        # STARTTLS gets nothing.
        self.send("x@policy-required.test")
        CLIENT.wait_log(r"to=<x@policy-required\.test>, .*dsn=4\.7\.4, status=deferred \(TLS is required, but "
                        r"was not offered", 30)
        # secure with the entry's own match= name, against the CAfile.
        self.send("x@policy-secure.test")
        qid = self.arrived("x@policy-secure.test")
        self.assertIn("with ESMTPS id " + qid, postcat(qid))
        CLIENT.wait_log(rf"Verified TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:{PORTS['may']}: "
                        r"TLSv1\.3")
        # The entry's protocols: TLS 1.3 only against a TLS 1.2 server
        # fails the handshake; "may" then goes on in plain text.
        self.send("x@policy-fallback.test")
        qid = self.arrived("x@policy-fallback.test")
        self.assertIn("with ESMTP id " + qid, postcat(qid))
        self.assertRegex(CLIENT.maillog(), rf"SSL_connect error to 127\.0\.0\.1\[127\.0\.0\.1\]:{PORTS['tls12']}")
        # No entry: main.cf's level (none), so no STARTTLS though offered.
        self.send("x@policy-none.test")
        qid = self.arrived("x@policy-none.test")
        self.assertIn("with ESMTP id " + qid, postcat(qid))

    def dane_sent(self, rcpt, host):
        """The queue ID INST gave the message for rcpt, relayed to MX host `host`."""
        m = CLIENT.wait_log(rf"to=<{re.escape(rcpt)}>, relay={re.escape(host)}\[127\.0\.0\.1\]:\d+, .*"
                            r"status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)", 30)
        return m.group(1)

    def test_dane_authenticates_by_validated_tlsa_records(self):
        # Validated MX, address and TLSA 3 1 1 (the server's public key):
        # authenticated TLS, with no CA and no name check.
        self.send("x@dane-ok.test")
        qid = self.dane_sent("x@dane-ok.test", "mx.dane-ok.test")
        self.assertIn("with ESMTPS id " + qid, postcat(qid))
        CLIENT.wait_log(rf"Verified TLS connection established to mx\.dane-ok\.test\[127\.0\.0\.1\]:"
                        rf"{PORTS['may']}: TLSv1\.3")
        asked = [q for q in self.dns.queries if q[0] == f"_{PORTS['may']}._tcp.mx.dane-ok.test"]
        self.assertTrue(asked and all(q[1] == 52 and q[2] for q in asked), asked)
        # The same host as [host] with dane-only.
        self.send("x@daneonly-ok.test")
        self.dane_sent("x@daneonly-ok.test", "mx.dane-ok.test")
        # A record that does not match: deferred, never sent in the clear.
        self.send("x@dane-bad.test")
        CLIENT.wait_log(r"to=<x@dane-bad\.test>, .*dsn=4\.7\.5, status=deferred \(Server certificate not "
                        r"verified\)", 30)
        CLIENT.wait_log(r"server certificate verification failed for mx\.dane-bad\.test\[127\.0\.0\.1\]:\d+: "
                        r"num=\d+:")
        self.assertNotRegex(CLIENT.maillog(), r"to=<x@dane-bad\.test>.*status=sent")
        # DANE-TA(2): a chain to the anchor that names the TLSA base domain.
        self.send("x@dane-ta.test")
        self.dane_sent("x@dane-ta.test", HOST)
        CLIENT.wait_log(rf"Verified TLS connection established to {re.escape(HOST)}\[127\.0\.0\.1\]:{PORTS['cachain']}")
        # ... and the same anchor for a host whose name the certificate lacks.
        self.send("x@dane-ta-name.test")
        CLIENT.wait_log(r"to=<x@dane-ta-name\.test>, .*dsn=4\.7\.5, status=deferred \(Server certificate not "
                        r"verified\)", 30)
        CLIENT.wait_log(r"server certificate verification failed for mx\.dane-ta-name\.test\[127\.0\.0\.1\]:\d+: "
                        r"num=62:hostname mismatch")
        self.assertNotRegex(CLIENT.maillog(), r"to=<x@dane-ta-name\.test>.*status=sent")

    def test_dane_falls_back_as_rfc7672_says(self):
        # MX records without AD, but a validated host with validated TLSA
        # records: DANE for that host (RFC 7672 2.2.1; Postfix's default
        # smtp_tls_dane_insecure_mx_policy with main.cf's level dane), logged
        # "Trusted": the MX host name could have been forged.
        self.send("x@dane-insecure-mx.test")
        self.dane_sent("x@dane-insecure-mx.test", "mx.dane-insecure-mx.test")
        CLIENT.wait_log(r"Trusted TLS connection established to mx\.dane-insecure-mx\.test\[127\.0\.0\.1\]")
        # Nothing validated: no DANE, opportunistic TLS ("may"), and no
        # TLSA lookup at all.
        self.send("x@dane-insecure.test")
        self.dane_sent("x@dane-insecure.test", "mx.dane-insecure.test")
        CLIENT.wait_log(r"Untrusted TLS connection established to mx\.dane-insecure\.test\[127\.0\.0\.1\]")
        self.assertFalse([q for q in self.dns.queries if q[0].endswith("._tcp.mx.dane-insecure.test")])
        # ... which dane-only refuses.
        self.send("x@daneonly-insecure.test")
        CLIENT.wait_log(r"to=<x@daneonly-insecure\.test>, .*dsn=4\.7\.5, status=deferred \(no DNSSEC-validated "
                        r"address records for mx\.dane-insecure\.test \(dane-only\)\)", 30)
        # Validated records, none usable for SMTP: encrypted, not authenticated.
        self.send("x@dane-unusable.test")
        self.dane_sent("x@dane-unusable.test", "mx.dane-unusable.test")
        CLIENT.wait_log(r"Untrusted TLS connection established to mx\.dane-unusable\.test\[127\.0\.0\.1\]")
        # A TLSA lookup that fails: deferred.
        self.send("x@dane-servfail.test")
        CLIENT.wait_log(rf"to=<x@dane-servfail\.test>, .*dsn=4\.7\.5, status=deferred \(TLSA lookup error for "
                        rf"mx\.dane-servfail\.test:{PORTS['may']}\)", 30)
        for rcpt in ("daneonly-insecure", "dane-servfail"):
            self.assertNotRegex(CLIENT.maillog(), rf"to=<x@{rcpt}\.test>.*status=sent")

    def test_lmtp_tls(self):
        # lmtp_tls_security_level = encrypt: STARTTLS over LMTP, then the
        # delivery inside TLS; a server without it gets nothing.
        self.send("x@lmtp-tls.test")
        CLIENT.wait_log(r"to=<x@lmtp-tls\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent", 30)
        CLIENT.wait_log(r"postern/lmtp\[\d+\]: Untrusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: "
                        r"TLSv1\.3")
        self.assertTrue(any(tls and b"to x@lmtp-tls.test" in d for tls, d in self.lmtp.messages))
        self.send("x@lmtp-plain.test")
        CLIENT.wait_log(r"to=<x@lmtp-plain\.test>, .*dsn=4\.7\.4, status=deferred \(TLS is required, but was not "
                        r"offered", 30)
        self.assertFalse(self.lmtp_plain.messages)
        # verify with lmtp_tls_CAfile and the literal name to match.
        self.send("x@lmtp-verify.test")
        CLIENT.wait_log(r"to=<x@lmtp-verify\.test>, .*status=sent", 30)
        CLIENT.wait_log(r"postern/lmtp\[\d+\]: Verified TLS connection established to 127\.0\.0\.1")
        # Over a UNIX-domain socket too.
        self.send("x@lmtp-unix.test")
        CLIENT.wait_log(r"to=<x@lmtp-unix\.test>, .*status=sent", 30)
        self.assertTrue(any(tls and b"to x@lmtp-unix.test" in d for tls, d in self.lmtp_unix.messages))

    def test_tls_sessions_are_cached_only_with_tls_connection_reuse(self):
        # Both transports always cache their destination's sessions
        # (lmtp_connection_cache_destinations); a TLS session is kept for the
        # next delivery only with lmtp_tls_connection_reuse = yes (Postfix's
        # default is no). Each handshake is one entry in the server's list.
        for domain, server, handshakes in (("lmtp-cache.test", self.lmtp_cache, 2),
                                           ("lmtp-cache-tls.test", self.lmtp_cache_tls, 1)):
            for n in ("one", "two"):
                self.send(f"{n}@{domain}")
                CLIENT.wait_log(rf"to=<{n}@{re.escape(domain)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, "
                                r".*status=sent", 30)
            self.assertEqual(sum(1 for tls, _ in server.messages if tls), 2, domain)
            self.assertEqual(len(server.sni), handshakes, domain)

    def test_server_name_indication(self):
        # Postfix's smtp_tls_servername and the policy table's servername=:
        # what each server saw in its TLS handshake.
        cases = [("sni-host.test", "host", "mx.sni-host.test"),        # hostname: the MX host
                 ("sni-nexthop.test", "nexthop", "sni-nexthop.test"),  # nexthop: the domain
                 ("sni-bracket.test", "bracket", "mx.sni-bracket.test"),  # of "[host]:port": host
                 ("sni-lit.test", "lit", "relay.example.net"),         # a name of its own
                 ("sni-policy.test", "policy", "sni-policy.test"),     # servername=nexthop wins
                 ("sni-default.test", "default", None),                # by default: none
                 ("sni-addr.test", "addr", None),                      # hostname of [127.0.0.1]: none
                 ("lmtp-sni.test", "lmtp", "lmtp.example.net")]        # lmtp_tls_servername
        for domain, key, _ in cases:
            self.send(f"x@{domain}")
        for domain, key, want in cases:
            server = self.sni[key]
            wait_for(lambda: server.messages, timeout=30, what=f"delivery to x@{domain}")
            self.assertTrue(server.messages[0][0], domain)  # over TLS
            self.assertEqual(server.sni[0], want, domain)

    def test_invalid_server_name_keeps_the_client_from_starting(self):
        # A main.cf value that is not a host name: the client refuses to run,
        # saying which parameter is wrong, and the mail waits in the queue.
        bad = Instance("snibad", main_cf_extra=f"smtp_tls_servername = bad..name\nrelayhost = [127.0.0.1]:{free_port()}\n"
                                               "mynetworks = 127.0.0.0/8\n")
        try:
            bad.start()
            wait_for(lambda: port_open(bad.port), timeout=15, what="the instance's smtpd")
            with smtplib.SMTP("127.0.0.1", bad.port, timeout=30) as s:
                s.sendmail("sender@client.test", ["x@remote.example"], "Subject: sni\r\n\r\nhello\r\n")
            bad.wait_log(r'postern/smtp\[\d+\]: fatal: smtp_tls_\*: smtp_tls_servername: "bad\.\.name" is not a valid '
                         r"host name", 30)
            self.assertNotRegex(bad.maillog(), r"status=(sent|bounced)")
        finally:
            bad.stop()
            bad.cleanup()

    def test_invalid_policy_defers_and_says_why(self):
        self.send("x@policy-invalid.test")
        CLIENT.wait_log(r"warning: smtp_tls_policy_maps, next-hop destination \"\[127\.0\.0\.1\]:\d+\": "
                        r"invalid attribute name: \"color\"", 30)
        CLIENT.wait_log(r"to=<x@policy-invalid\.test>, relay=none, .*dsn=4\.7\.5, status=deferred "
                        r"\(client TLS configuration problem\)", 30)
        self.assertNotRegex(CLIENT.maillog(), r"to=<x@policy-invalid\.test>.*status=sent")


if __name__ == "__main__":
    unittest.main()
