"""proxymap end to end: the real daemon under a real master, spoken to over
private/proxymap with the wire protocol (ipcwire), and used by a chrooted
smtpd for local_recipient_maps = proxy:unix:passwd.byname (its default),
the case proxymap exists for: the jail has no passwd database."""
import os
import pwd
import time
import unittest

import ipcwire
from harness import LIBEXEC, Instance, SmtpClient, free_port, port_open, wait_for

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"
MAIN_CF = f"""
daemon_directory = {LIBEXEC}
mydestination = localhost
smtpd_peername_lookup = no
"""


def lookup(table, key):
    return ("proxymap_request", [("request", "lookup"), ("table", table), ("fold_fix", 1), ("fold_mul", 0),
                                 ("key", key)])


def existing_user():
    # A system user every Debian machine has; root's name is the same everywhere.
    return pwd.getpwuid(0).pw_name


@unittest.skipUnless(os.path.exists(os.path.join(LIBEXEC, "proxymap")), "proxymap not built")
class ProxymapServiceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = Instance("proxymap", master_cf=HEADER + "proxymap unix - - n - - proxymap\n")
        # A value longer than a reply may carry (1,000,000 bytes).
        cls.big = cls.inst.path("big")
        with open(cls.big, "w") as f:
            f.write("big " + "x" * 1000001 + "\nsmall y\n")
        cls.changing = cls.inst.path("changing")
        with open(cls.changing, "w") as f:
            f.write("k old\n")
        with open(cls.inst.path("main.cf"), "a") as f:
            f.write(MAIN_CF + "proxy_read_maps = proxy:unix:passwd.byname proxy:inline:{a=b} "
                    f"proxy:inline:{{missing}} hash:/unproxied proxy:texthash:{cls.big} "
                    f"proxy:texthash:{cls.changing}\n")
        cls.inst.start()
        cls.path = os.path.join(cls.inst.queue, "private", "proxymap")
        wait_for(lambda: os.path.exists(cls.path), 10, what="private/proxymap")

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    def test_lookups_of_approved_tables(self):
        with ipcwire.Connection(self.path) as c:
            kind, r = c.call("proxymap_request", [("request", "open"), ("table", "unix:passwd.byname"),
                                                  ("fold_fix", 1), ("fold_mul", 0), ("key", "")])
            self.assertEqual((kind, r["status"], r["fixed"]), ("proxymap_reply", "ok", 1))
            kind, r = c.call(*lookup("unix:passwd.byname", existing_user().upper()))
            self.assertEqual(r["status"], "ok")
            self.assertTrue(r["value"].startswith(existing_user() + ":"), r["value"])
            self.assertEqual(c.call(*lookup("unix:passwd.byname", "no-such-user-xyz"))[1]["status"], "notfound")
            # The same connection carries lookups in other tables.
            self.assertEqual(c.call(*lookup("inline:{a=b}", "A"))[1], {"status": "ok", "fixed": 1, "value": "b"})

    def test_unapproved_tables_are_refused_and_logged(self):
        with ipcwire.Connection(self.path) as c:
            # Listed, but not as proxy:hash:..., so not approved (as with Postfix).
            self.assertEqual(c.call(*lookup("hash:/unproxied", "x"))[1]["status"], "deny")
            self.assertEqual(c.call(*lookup("unix:group.byname", "root"))[1]["status"], "deny")
        self.inst.wait_log(r'proxymap\[\d+\]: warning: request for unapproved table: "unix:group.byname"')
        self.inst.wait_log(r"warning: to approve this table for read-only access, list "
                           r"proxy:unix:group.byname in main.cf:proxy_read_maps")

    def test_a_table_that_cannot_be_opened(self):
        with ipcwire.Connection(self.path) as c:
            self.assertEqual(c.call(*lookup("inline:{missing}", "x"))[1]["status"], "bad")
        self.inst.wait_log(r"proxymap\[\d+\]: warning: cannot open table inline:\{missing\}")

    def test_a_value_too_long_to_pass_on(self):
        with ipcwire.Connection(self.path) as c:
            self.assertEqual(c.call(*lookup(f"texthash:{self.big}", "small"))[1]["value"], "y")
            self.assertEqual(c.call(*lookup(f"texthash:{self.big}", "big"))[1]["status"], "retry")
            # The connection still serves.
            self.assertEqual(c.call(*lookup(f"texthash:{self.big}", "small"))[1]["status"], "ok")
        self.inst.wait_log(r"proxymap\[\d+\]: warning: table texthash:.*big: value for key big too long to pass "
                           r"on \(1000001 bytes\)")

    def test_a_changed_table_is_read_afresh_by_a_new_process(self):
        table = f"texthash:{self.changing}"
        with ipcwire.Connection(self.path) as c:
            self.assertEqual(c.call(*lookup(table, "k"))[1]["value"], "old")
            tmp = self.changing + ".new"
            with open(tmp, "w") as f:
                f.write("k new\n")
            os.rename(tmp, self.changing)
            # The process looks for changes after each reply. If it looked
            # only after this rename, its next request is still answered
            # (from the table as the process opened it)...
            try:
                self.assertEqual(c.call(*lookup(table, "k"))[1]["value"], "old")
                self.inst.wait_log(rf"proxymap\[\d+\]: table {table} has changed -- restarting")
                # ...and then nothing more on this connection, busy as it
                # was (not only the connections idle at that moment).
                c.call(*lookup(table, "k"))
                self.fail("a retiring proxymap answered again on a busy connection")
            except (EOFError, ConnectionError):
                pass  # (or it saw the change after the first reply already)
            # Either way the client asks again on a new connection.
            self.inst.wait_log(rf"proxymap\[\d+\]: table {table} has changed -- restarting")
        with ipcwire.Connection(self.path) as c:
            self.assertEqual(c.call(*lookup(table, "k"))[1]["value"], "new")

    def test_an_oversized_request_is_refused_at_its_header(self):
        with ipcwire.Connection(self.path) as c:
            # A frame announced far beyond a table name and a key: refused
            # before any of it is read or allocated.
            c.send_raw((1 << 20).to_bytes(4, "big"))
            with self.assertRaises((EOFError, ConnectionError)):
                c.read_frame()
        self.inst.wait_log(r"proxymap\[\d+\]: warning: proxymap: read request from .*: .*1048576")
        with ipcwire.Connection(self.path) as c:
            self.assertEqual(c.call(*lookup("inline:{a=b}", "a"))[1]["value"], "b")

    def test_malformed_request_is_refused(self):
        with ipcwire.Connection(self.path) as c:
            kind, r = c.call("proxymap_request", [("request", "lookup"), ("table", "no-colon"), ("fold_fix", 1),
                                                  ("fold_mul", 0), ("key", "x")])
            self.assertEqual(kind, "status")


@unittest.skipUnless(os.path.exists(os.path.join(LIBEXEC, "proxymap")), "proxymap not built")
@unittest.skipUnless(os.geteuid() == 0, "chroot needs root")
class ChrootedSmtpdTest(unittest.TestCase):
    """Debian's master.cf chroots smtpd; its recipient check must still see
    the system's users, through proxymap."""

    def start(self, extra=""):
        port = free_port()
        inst = Instance("pmchroot", main_cf_extra=MAIN_CF + extra)
        self.addCleanup(inst.cleanup)
        inst.write_master_cf(HEADER + f"127.0.0.1:{port} inet n - y - - smtpd\n"
                             "cleanup unix n - n - 0 cleanup\n"
                             "rewrite unix - - n - - trivial-rewrite\n"
                             "proxymap unix - - n - - proxymap\n")
        inst.start()
        wait_for(lambda: port_open(port), timeout=15, what="smtpd")
        return inst, port

    def test_local_recipients_through_proxymap(self):
        inst, port = self.start()
        c = SmtpClient(port)
        try:
            c.ask("EHLO client.test")
            self.assertEqual(c.ask("MAIL FROM:<a@example.org>")[:3], "250")
            self.assertEqual(c.ask(f"RCPT TO:<{existing_user()}@localhost>")[:3], "250")
            self.assertTrue(c.ask("RCPT TO:<no-such-user-xyz@localhost>").startswith(
                "550 5.1.1 <no-such-user-xyz@localhost>: Recipient address rejected: User unknown in local "
                "recipient table"))
            c.ask("QUIT")
        finally:
            c.close()
        pids = inst.service_pids("proxymap")
        self.assertTrue(pids, "no proxymap process served the lookups")
        for pid in pids:
            self.assertEqual(os.readlink(f"/proc/{pid}/root"), "/")

    def test_a_chrooted_smtpd_keeps_its_log_file(self):
        # Inside the chroot maillog_file's path names nothing: the process
        # must not take that for a rotation and retire after a second.
        inst, port = self.start()
        c = SmtpClient(port)
        try:
            c.ask("EHLO client.test")
            (pid,) = inst.service_pids(f"127.0.0.1:{port}")
            time.sleep(1.5)
            c.ask("NOOP")
            c.ask("MAIL FROM:<a@example.org>")
            time.sleep(1.5)
            c.ask("RSET")
            c.ask("QUIT")
        finally:
            c.close()
        c = SmtpClient(port)  # the same process takes the next client
        c.ask("QUIT")
        c.close()
        self.assertEqual(inst.service_pids(f"127.0.0.1:{port}"), {pid})
        self.assertNotIn("cannot open it again", inst.maillog())

    def test_an_unapproved_proxy_table_defers_with_a_reason(self):
        # As a table that cannot be opened: logged, and the mail it would
        # decide on is deferred, never bounced.
        inst, port = self.start("proxy_read_maps = $mydestination\n")
        c = SmtpClient(port)
        try:
            c.ask("EHLO client.test")
            c.ask("MAIL FROM:<a@example.org>")
            self.assertEqual(c.ask(f"RCPT TO:<{existing_user()}@localhost>")[:9], "451 4.3.0")
        finally:
            c.close()
        inst.wait_log(r'smtpd\[\d+\]: warning: local_recipient_maps: .*proxy:unix:passwd.byname: proxymap service '
                      r'is not configured for table "unix:passwd.byname" \(list proxy:unix:passwd.byname in '
                      r'proxy_read_maps\)')

if __name__ == "__main__":
    unittest.main()
