"""smtpd and TLS client certificates: smtpd_tls_ask_ccert, smtpd_tls_req_ccert,
permit_tls_clientcerts (relay_clientcerts), permit_tls_all_clientcerts,
check_ccert_access, the Received: header and the log.

The certificates are made with the openssl command for each run: a CA, a
client certificate it signed, and a self-signed one that no CA vouches for.
Fingerprints are computed here, independently of smtpd: the certificate's
with hashlib over its DER form, the public key's with the openssl command.
Clients are Python's ssl module presenting the certificates.
"""
import hashlib
import os
import shutil
import ssl
import subprocess
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, Instance, SmtpClient, queued_id, smtpd_master_cf, wait_for

HOST = "mx.test.example"
MAIN_CF = f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination = $myhostname, localhost
mynetworks = 192.0.2.0/24
local_recipient_maps = inline:{{alice=x}}
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
"""
REMOTE = "someone@remote.test"  # neither ours nor relayed: needs a permit
PORTS = {}
INST = None
CERTS = {}


def openssl(*args, **kw):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, **kw)


def make_certificates(d):
    """CA, server, a CA-signed client ("client.test") and a self-signed
    client ("rogue.test"): name -> (cert, key)."""
    out = {}

    def key_for(name):
        key = os.path.join(d, f"{name}.key")
        openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", key)
        os.chmod(key, 0o600)
        return key

    ca_key = key_for("ca")
    ca = os.path.join(d, "ca.crt")
    openssl("req", "-x509", "-new", "-key", ca_key, "-days", "2", "-subj", "/CN=Test CA", "-out", ca,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    out["ca"] = (ca, ca_key)
    for name, cn in (("server", HOST), ("client", "client.test")):
        key = key_for(name)
        csr, cert = os.path.join(d, f"{name}.csr"), os.path.join(d, f"{name}.crt")
        openssl("req", "-new", "-key", key, "-subj", f"/CN={cn}", "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
                "-out", cert)
        out[name] = (cert, key)
    key = key_for("rogue")
    cert = os.path.join(d, "rogue.crt")
    openssl("req", "-x509", "-new", "-key", key, "-days", "2", "-subj", "/CN=rogue.test", "-out", cert)
    out["rogue"] = (cert, key)
    return out


def colon_hex(digest):
    return ":".join(f"{b:02X}" for b in digest)


def cert_fingerprint(cert):
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return colon_hex(hashlib.sha256(der).digest())


def pkey_fingerprint(cert):
    pub = openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
    der = openssl("pkey", "-pubin", "-outform", "DER", input=pub).stdout
    return colon_hex(hashlib.sha256(der).digest())


def write_table(name, lines):
    path = os.path.join(INST.root, name)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def setUpModule():
    global INST
    if not shutil.which("openssl"):
        raise unittest.SkipTest("the openssl command is not installed")
    INST = Instance("tlsccert", main_cf_extra=MAIN_CF + NO_QMGR_FLOW)
    CERTS.update(make_certificates(INST.root))
    cert, key = CERTS["server"]
    ca = CERTS["ca"][0]
    tls = f"-o smtpd_tls_cert_file={cert} -o smtpd_tls_key_file={key}"
    ask = f"{tls} -o smtpd_tls_security_level=may -o smtpd_tls_ask_ccert=yes -o smtpd_tls_CAfile={ca}"
    relay_list = write_table("relay_clientcerts", [f"{cert_fingerprint(CERTS['rogue'][0])} rogue"])
    pkey_list = write_table("relay_pkeys", [f"{pkey_fingerprint(CERTS['client'][0])} client"])
    access = write_table("ccert_access", [f"{cert_fingerprint(CERTS['rogue'][0])} REJECT go away",
                                          f"{pkey_fingerprint(CERTS['client'][0])} OK"])
    relay = "permit_mynetworks, permit_tls_clientcerts, reject_unauth_destination"
    services = {
        "listed": f"{ask} -o relay_clientcerts=texthash:{relay_list} -o {{smtpd_relay_restrictions = {relay}}}",
        "pkey": f"{ask} -o relay_clientcerts=texthash:{pkey_list} -o {{smtpd_relay_restrictions = {relay}}}",
        "all": f"{ask} -o {{smtpd_relay_restrictions = permit_tls_all_clientcerts, reject_unauth_destination}}",
        "access": f"{ask} -o {{smtpd_relay_restrictions = check_ccert_access texthash:{access}, "
                  f"reject_unauth_destination}}",
        "required": f"{tls} -o smtpd_tls_security_level=encrypt -o smtpd_tls_req_ccert=yes "
                    f"-o smtpd_tls_CAfile={ca}",
        "notasked": f"{tls} -o smtpd_tls_security_level=may",
        # Two restrictions about the session rather than the certificate.
        "plaintext": f"{tls} -o smtpd_tls_security_level=may "
                     f"-o {{smtpd_recipient_restrictions = reject_plaintext_session, permit}}",
        "interfaces": f"-o {{smtpd_relay_restrictions = permit_inet_interfaces, reject_unauth_destination}}",
    }
    INST.write_master_cf(smtpd_master_cf(services, PORTS))
    INST.start()


def tearDownModule():
    if INST:
        INST.cleanup()


def context(who=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if who:
        ctx.load_cert_chain(*CERTS[who])
    return ctx


def session(service, who):
    """A connection that said EHLO and STARTTLS (with `who`'s certificate,
    or none) and EHLO again."""
    c = SmtpClient(PORTS[service])
    assert c.banner.startswith("220"), c.banner
    c.ask("EHLO client.test")
    reply = c.ask("STARTTLS")
    assert reply.startswith("220"), reply
    c.starttls(context(who), HOST)
    return c


class ClientCertificateTest(unittest.TestCase):
    def rcpt(self, service, who, rcpt=REMOTE):
        c = session(service, who)
        try:
            self.assertTrue(c.ask("EHLO client.test").startswith("250"))
            self.assertTrue(c.ask("MAIL FROM:<sender@client.test>").startswith("250"))
            return c.ask(f"RCPT TO:<{rcpt}>")
        finally:
            c.close()

    def test_listed_fingerprint_may_relay_without_a_trusted_chain(self):
        # rogue's certificate is self-signed (untrusted), but relay_clientcerts
        # lists its fingerprint: Postfix's permit_tls_clientcerts permits.
        self.assertTrue(self.rcpt("listed", "rogue").startswith("250"))
        INST.wait_log(r"Untrusted TLS connection established from \S+\[127\.0\.0\.1\]")
        # A certificate that verified but is not listed does not relay.
        r = self.rcpt("listed", "client")
        self.assertTrue(r.startswith("554 5.7.1"), r)
        self.assertIn("Relay access denied", r)
        r = self.rcpt("listed", None)
        self.assertTrue(r.startswith("554 5.7.1"), r)

    def test_public_key_fingerprint_is_the_second_key(self):
        self.assertTrue(self.rcpt("pkey", "client").startswith("250"))
        self.assertTrue(self.rcpt("pkey", "rogue").startswith("554"))

    def test_all_verified_certificates(self):
        self.assertTrue(self.rcpt("all", "client").startswith("250"))
        INST.wait_log(r"Trusted TLS connection established from \S+\[127\.0\.0\.1\]")
        self.assertTrue(self.rcpt("all", "rogue").startswith("554"))
        self.assertTrue(self.rcpt("all", None).startswith("554"))
        INST.wait_log(r"Anonymous TLS connection established from \S+\[127\.0\.0\.1\]")

    def test_check_ccert_access(self):
        r = self.rcpt("access", "rogue")
        self.assertEqual(r, "554 5.7.1 <rogue.test>: Client certificate rejected: go away")
        self.assertTrue(self.rcpt("access", "client").startswith("250"))
        # Without a certificate the table decides nothing.
        r = self.rcpt("access", None)
        self.assertIn("Relay access denied", r)

    def test_required_certificate(self):
        for who, why in ((None, "No client certificate presented"), ("rogue", "Client certificate not trusted")):
            c = session("required", who)
            try:
                self.assertEqual(c.reply(), f"421 4.7.1 {HOST} Error: {why}")
            finally:
                c.close()
            INST.wait_log(rf"NOQUEUE: abort: TLS from \S+\[127\.0\.0\.1\]: {why}")
        text = self.queued("required", "client")
        self.assertIn('(Client CN "client.test", Issuer "Test CA" (verified OK))', text)

    def test_plaintext_session_and_inet_interfaces(self):
        c = SmtpClient(PORTS["plaintext"])
        try:
            c.ask("EHLO client.test")
            c.ask("MAIL FROM:<sender@client.test>")
            self.assertEqual(c.ask(f"RCPT TO:<alice@{HOST}>"), "450 4.7.1 Session encryption is required")
        finally:
            c.close()
        self.assertTrue(self.rcpt("plaintext", None, f"alice@{HOST}").startswith("250"))
        # inet_interfaces is "all": 127.0.0.1 is this host.
        c = SmtpClient(PORTS["interfaces"])
        try:
            c.ask("EHLO client.test")
            c.ask("MAIL FROM:<sender@client.test>")
            self.assertTrue(c.ask(f"RCPT TO:<{REMOTE}>").startswith("250"))
        finally:
            c.close()

    def queued(self, service, who):
        """A message to a local user over TLS with `who`'s certificate; its
        queue file as postcat shows it."""
        c = session(service, who)
        try:
            self.assertTrue(c.ask("EHLO client.test").startswith("250"))
            self.assertTrue(c.ask("MAIL FROM:<sender@client.test>").startswith("250"))
            self.assertTrue(c.ask(f"RCPT TO:<alice@{HOST}>").startswith("250"))
            self.assertTrue(c.ask("DATA").startswith("354"))
            reply = c.ask(f"Subject: {service}\r\n\r\nover TLS\r\n.")
            self.assertTrue(reply.startswith("250"), reply)
            c.ask("QUIT")
        finally:
            c.close()
        return INST.cmd("postcat", ["-q", queued_id(reply)]).stdout

    def test_received_header_without_asking(self):
        self.assertIn("(No client certificate requested)", self.queued("notasked", "client"))
        # Asked, not given.
        self.assertIn("(Client did not present a certificate)", self.queued("listed", None))


if __name__ == "__main__":
    unittest.main()
