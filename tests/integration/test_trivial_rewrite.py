"""trivial-rewrite end to end: a real master starts the daemon on
private/rewrite, and the tests query it over the socket with the wire format
implemented independently in ipcwire.py."""
import os
import time
import unittest

from harness import Instance, wait_for
from ipcwire import Connection, decode, frame

MASTER_CF = """# service type private unpriv chroot wakeup maxproc command
rewrite unix - - n - - trivial-rewrite
"""

MAIN_CF = """
myhostname = mail.example.com
mydomain = example.com
myorigin = $mydomain
mydestination = $myhostname, localhost, example.com
inet_interfaces = loopback-only
relay_domains = relay.example
virtual_alias_domains = alias.example
virtual_mailbox_domains = vmail.example
remote_header_rewrite_domain = domain.invalid
recipient_delimiter = +
transport_maps = inline:{ special.example=lmtp:[10.0.0.5]:24, joe+tag@example.org=discard:, *=: }
"""

RF = {"final": 1, "routed": 2, "error": 4, "fail": 8, "local": 0x100, "alias": 0x200,
      "virtual": 0x400, "relay": 0x800, "default": 0x1000}


class TrivialRewriteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = Instance("rewrite", main_cf_extra=MAIN_CF, master_cf=MASTER_CF)
        try:
            cls.inst.start()
            cls.sock = os.path.join(cls.inst.queue, "private", "rewrite")
            wait_for(lambda: os.path.exists(cls.sock), what="private/rewrite")
        except Exception:
            cls.inst.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    def connect(self):
        c = Connection(self.sock)
        self.addCleanup(c.close)
        return c

    def rewrite(self, c, rule, address):
        t, a = c.call("trivial_rewrite_request", [("request", "rewrite"), ("rule", rule), ("address", address)])
        self.assertEqual(t, "rewrite_reply", a)
        self.assertEqual(a["flags"], 0)
        return a["address"]

    def resolve(self, c, address, request="resolve", sender=None):
        attrs = [("request", request)]
        if sender is not None:
            attrs.append(("sender", sender))
        attrs.append(("address", address))
        t, a = c.call("trivial_rewrite_request", attrs)
        self.assertEqual(t, "resolve_reply", a)
        return a

    def test_rewrite_rules(self):
        c = self.connect()
        self.assertEqual(self.rewrite(c, "local", "joe"), "joe@example.com")
        self.assertEqual(self.rewrite(c, "local", "host!joe"), "joe@host")
        self.assertEqual(self.rewrite(c, "local", "joe%example.org"), "joe@example.org")
        self.assertEqual(self.rewrite(c, "local", "@a,@b:joe@example.org."), "joe@example.org")
        self.assertEqual(self.rewrite(c, "local", ""), "")
        self.assertEqual(self.rewrite(c, "remote", "joe"), "joe@domain.invalid")

    def test_resolve_classes(self):
        c = self.connect()
        a = self.resolve(c, "joe@example.com")
        self.assertEqual(a["flags"], RF["local"] | RF["final"])
        self.assertEqual((a["transport"], a["nexthop"], a["recipient"]),
                         ("local", "mail.example.com", "joe@example.com"))
        a = self.resolve(c, "joe@[127.0.0.1]")
        self.assertTrue(a["flags"] & RF["local"])
        a = self.resolve(c, "joe@alias.example")
        self.assertEqual((a["flags"], a["transport"]), (RF["alias"] | RF["final"], "error"))
        self.assertIn("User unknown in virtual alias table", a["nexthop"])
        a = self.resolve(c, "joe@vmail.example")
        self.assertEqual((a["flags"], a["transport"]), (RF["virtual"] | RF["final"], "virtual"))
        a = self.resolve(c, "joe@sub.relay.example")
        self.assertEqual((a["flags"], a["transport"], a["nexthop"]), (RF["relay"], "relay", "sub.relay.example"))
        a = self.resolve(c, "joe@example.org")
        self.assertEqual((a["flags"], a["transport"], a["nexthop"]), (RF["default"], "smtp", "example.org"))

    def test_routing_tricks_and_errors(self):
        c = self.connect()
        a = self.resolve(c, "joe%example.org@localhost")
        self.assertEqual((a["recipient"], a["nexthop"], a["flags"]), ("joe@example.org", "example.org", RF["default"]))
        a = self.resolve(c, "joe%other.example@example.org")
        self.assertTrue(a["flags"] & RF["routed"])
        a = self.resolve(c, "joe@bad..domain")
        self.assertTrue(a["flags"] & RF["error"])
        self.assertEqual(a["transport"], "error")

    def test_transport_maps(self):
        c = self.connect()
        a = self.resolve(c, "ann@special.example")
        self.assertEqual((a["transport"], a["nexthop"]), ("lmtp", "[10.0.0.5]:24"))
        a = self.resolve(c, "joe+tag@example.org")
        self.assertEqual((a["transport"], a["nexthop"]), ("discard", "example.org"))
        a = self.resolve(c, "joe@example.org", request="verify", sender="probe@example.com")
        self.assertEqual(a["transport"], "smtp")

    def test_many_requests_and_clients_at_once(self):
        conns = [self.connect() for _ in range(5)]
        for round_ in range(20):
            for i, c in enumerate(conns):
                self.assertEqual(self.rewrite(c, "local", f"u{i}r{round_}"), f"u{i}r{round_}@example.com")

    def test_stalled_frames_hold_only_what_arrived(self):
        # Clients that announce a frame at the 1 MiB limit and then stall
        # must not make the daemon hold 1 MiB each: its buffer grows with
        # the bytes that come, so 60 of them cost it a few MiB, not 60.
        c = self.connect()
        self.assertEqual(self.rewrite(c, "local", "warm"), "warm@example.com")
        (pid,) = self.inst.service_pids("rewrite")

        def rss_kib():
            with open(f"/proc/{pid}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

        before = rss_kib()
        for _ in range(60):
            self.connect().send_raw((1 << 20).to_bytes(4, "big") + b"x" * 100)
        # A client after them is still served, by the same process.
        self.assertEqual(self.rewrite(self.connect(), "local", "after"), "after@example.com")
        time.sleep(0.3)
        self.assertEqual(self.inst.service_pids("rewrite"), {pid})
        self.assertLess(rss_kib() - before, 20 * 1024)

    def test_malformed_request_is_refused(self):
        c = self.connect()
        # A rewrite request without its rule fails the message's own check.
        t, a = c.call("trivial_rewrite_request", [("request", "rewrite"), ("address", "joe")])
        self.assertEqual((t, a["status"]), ("status", 2))
        with self.assertRaises(EOFError):
            c.read_frame()
        # Garbage bytes in a frame: refused too, and the service keeps working.
        c2 = self.connect()
        c2.send_raw(frame(b"\x07garbage"))
        t, a = decode(c2.read_frame())
        self.assertEqual((t, a["status"]), ("status", 2))
        c3 = self.connect()
        self.assertEqual(self.rewrite(c3, "local", "still"), "still@example.com")
        self.inst.wait_log(r"postern/trivial-rewrite\[\d+\]: warning: rewrite: malformed request")
        # An unknown rule is refused, not crashed on.
        c4 = self.connect()
        t, a = c4.call("trivial_rewrite_request", [("request", "rewrite"), ("rule", "bogus"), ("address", "x")])
        self.assertEqual((t, a["status"]), ("status", 2))


if __name__ == "__main__":
    unittest.main()
