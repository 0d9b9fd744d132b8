"""anvil end to end: the real daemon under a real master, spoken to over
private/anvil with the wire protocol (ipcwire). smtpd's use of it is in
test_smtpd.py."""
import os
import unittest

import ipcwire
from harness import LIBEXEC, Instance, wait_for

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"
MAIN_CF = f"""
daemon_directory = {LIBEXEC}
anvil_status_update_time = 1s
anvil_rate_time_unit = 60s
"""


def request(op, client, service="smtp"):
    return ("anvil_request", [("request", op), ("service", service), ("client", client)])


@unittest.skipUnless(os.path.exists(os.path.join(LIBEXEC, "anvil")), "anvil not built")
class AnvilTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = Instance("anvil", main_cf_extra=MAIN_CF, master_cf=HEADER + "anvil unix - - n - 1 anvil\n")
        cls.inst.start()
        cls.path = os.path.join(cls.inst.queue, "private", "anvil")
        wait_for(lambda: os.path.exists(cls.path), 10, what="private/anvil")

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    def call(self, c, op, client, service="smtp"):
        return c.call(*request(op, client, service))

    def test_new_tls_sessions(self):
        c = ipcwire.Connection(self.path)
        try:
            self.assertEqual(self.call(c, "newtls_report", "192.0.2.9")[1]["rate"], 0)
            self.assertEqual(self.call(c, "newtls", "192.0.2.9")[1]["rate"], 1)
            self.assertEqual(self.call(c, "newtls", "192.0.2.9")[1]["rate"], 2)
            self.assertEqual(self.call(c, "newtls_report", "192.0.2.9")[1]["rate"], 2)
        finally:
            c.close()
        self.inst.wait_log(r"anvil\[\d+\]: statistics: max new TLS sessions 2/60s for \(smtp:192\.0\.2\.9\) at ")

    def test_counts_and_release_on_close(self):
        a = ipcwire.Connection(self.path)
        b = ipcwire.Connection(self.path)
        try:
            self.assertEqual(self.call(a, "connect", "192.0.2.1"), ("anvil_reply", {"count": 1, "rate": 1}))
            self.assertEqual(self.call(b, "connect", "192.0.2.1"), ("anvil_reply", {"count": 2, "rate": 2}))
            self.assertEqual(self.call(a, "connect", "192.0.2.1", "submission"),
                             ("anvil_reply", {"count": 1, "rate": 1}))
            # b cannot release what a connected.
            self.assertEqual(self.call(b, "disconnect", "192.0.2.1")[0], "status")
            self.assertEqual(self.call(b, "disconnect", "192.0.2.1")[0], "status")
            self.assertEqual(self.call(b, "lookup", "192.0.2.1"), ("anvil_reply", {"count": 1, "rate": 2}))
            # a goes away without a disconnect: anvil gives its count back.
            a.close()
            wait_for(lambda: self.call(b, "lookup", "192.0.2.1")[1]["count"] == 0, 10,
                     what="the closed connection's count to be released")
            self.assertEqual(self.call(b, "lookup", "192.0.2.1", "submission")[1]["count"], 0)
        finally:
            a.close()
            b.close()
        self.inst.wait_log(r"anvil\[\d+\]: statistics: max connection count 2 for \(smtp:192\.0\.2\.1\) at ")
        self.inst.wait_log(r"anvil\[\d+\]: statistics: max connection rate 2/60s for \(smtp:192\.0\.2\.1\) at ")

    def test_malformed_requests_are_refused(self):
        bad = [
            ("anvil_request", [("request", "explode"), ("service", "smtp"), ("client", "192.0.2.9")]),
            ("anvil_request", [("request", "connect"), ("service", "smtp"), ("client", "x" * 200)]),
            ("anvil_request", [("request", "connect"), ("service", "smtp"), ("client", "a\nb")]),
            ("anvil_request", [("request", "connect"), ("service", ""), ("client", "192.0.2.9")]),
            ("anvil_request", [("request", "connect"), ("service", "smtp")]),
            ("showq_request", []),
        ]
        for msg_type, attrs in bad:
            with ipcwire.Connection(self.path) as c:
                t, a = c.call(msg_type, attrs)
                self.assertEqual((t, a["status"]), ("status", 2), (msg_type, attrs))
        self.inst.wait_log(r"anvil\[\d+\]: warning: malformed request from")
        # Still serving, and nothing was counted.
        with ipcwire.Connection(self.path) as c:
            self.assertEqual(self.call(c, "lookup", "192.0.2.9"), ("anvil_reply", {"count": 0, "rate": 0}))

    def test_one_long_lived_process(self):
        conns = [ipcwire.Connection(self.path) for _ in range(5)]
        try:
            for i, c in enumerate(conns):
                self.assertEqual(self.call(c, "connect", "198.51.100.7")[1]["count"], i + 1)
            self.assertEqual(len(self.inst.service_pids("anvil")), 1)
        finally:
            for c in conns:
                c.close()


if __name__ == "__main__":
    unittest.main()
