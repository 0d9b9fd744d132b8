"""virtual(8): delivery to virtual mailboxes through a real master, smtpd,
cleanup, qmgr, trivial-rewrite and the virtual agent on a scratch instance.

Mail for one.test and two.test (virtual_mailbox_domains) goes to the
virtual transport. The tables are inline:/static: ones, so no postmap step
is needed. The mailbox owners are bare uids (5001, 5002, 5003) without
passwd entries, as virtual hosting setups have them. smtpd accepts unknown
recipients (smtpd_reject_unlisted_recipient = no) so that the agent's own
verdict is what the tests see. Root only: the agent must switch to the
table's uid.
"""
import os
import pwd
import re
import shutil
import smtplib
import stat
import unittest

from harness import LIBEXEC, Instance, free_port, is_root, queue_master_cf, wait_for

HOST = "mx.test.example"
INST = None
PORT = None
STRICT_PORT = None  # smtpd_reject_unlisted_recipient = yes
SOFT_PORT = None    # the same with soft_bounce = yes
BASE = None

MAILBOXES = ("inline:{ {alice@one.test = one.test/alice/}, {bob@one.test = one.test/bob/},"
             " {mbox@one.test = one.test/mbox}, {big@one.test = one.test/big},"
             " {low@one.test = one.test/low/}, {dots@one.test = one.test/../../escape/},"
             " {link@one.test = one.test/link}, {loop@one.test = one.test/loop/},"
             " {locked@one.test = closed.test/locked/}, {rootgid@one.test = one.test/rootgid/},"
             " {@two.test = two.test/deep/catchall/} }")
# No static: fallback here: every table sees the full address (user+ext@domain)
# first, so a static: table would answer before user@domain is tried.
UIDS = ("inline:{ {alice@one.test = 5001}, {bob@one.test = 5002}, {low@one.test = 50} },"
        " inline:{ {@one.test = 5003}, {@two.test = 5003} }")
GIDS = "inline:{ {alice@one.test = 6001}, {rootgid@one.test = 0}, {@one.test = 6000}, {@two.test = 6000} }"


def have_binaries():
    return all(os.path.exists(os.path.join(LIBEXEC, d))
               for d in ("virtual", "smtpd", "cleanup", "qmgr", "trivial-rewrite", "bounce"))


def setUpModule():
    global INST, PORT, BASE, STRICT_PORT, SOFT_PORT
    if not is_root() or not have_binaries():
        return
    INST = Instance("virtual")
    BASE = os.path.join(INST.root, "vmail")
    os.mkdir(BASE)
    # Anyone may create their domain directory here (sticky, like /tmp);
    # one.test exists already and is shared by users with different uids.
    os.chmod(BASE, 0o1777)
    os.mkdir(os.path.join(BASE, "one.test"))
    os.chmod(os.path.join(BASE, "one.test"), 0o1777)
    # A domain directory the mailbox owners cannot write (yet).
    os.mkdir(os.path.join(BASE, "closed.test"), 0o755)
    with open(INST.path("main.cf"), "a") as f:
        f.write(f"""
daemon_directory = {LIBEXEC}
myhostname = {HOST}
mydestination =
mynetworks = 127.0.0.0/8
recipient_delimiter = +
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = one.test, two.test, three.test
transport_maps = inline:{{ {{three.test = vsoft:}} }}
virtual_mailbox_base = {BASE}
virtual_mailbox_maps = {MAILBOXES}
virtual_uid_maps = {UIDS}
virtual_gid_maps = {GIDS}
virtual_mailbox_limit = 4000
""")
    # The mailbox limit may not be below message_size_limit (Postfix's
    # start-up check): the agents get a smaller one, smtpd keeps the default.
    PORT, STRICT_PORT, SOFT_PORT = free_port(), free_port(), free_port()
    INST.write_master_cf(queue_master_cf(PORT, (
        "virtual unix - n n - - virtual -o message_size_limit=4000\n"
        # three.test goes here (transport_maps): bounces become deferrals.
        "vsoft unix - n n - - virtual -o soft_bounce=yes -o message_size_limit=4000\n"
        f"127.0.0.1:{STRICT_PORT} inet n - n - - smtpd -o smtpd_reject_unlisted_recipient=yes\n"
        f"127.0.0.1:{SOFT_PORT} inet n - n - - smtpd -o smtpd_reject_unlisted_recipient=yes"
        " -o soft_bounce=yes\n")))
    INST.start()


def tearDownModule():
    if INST:
        INST.cleanup()


def send(rcpts, body="hello", headers="", sender="sender@client.test"):
    with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as s:
        s.sendmail(sender, rcpts, f"Subject: virtual\r\n{headers}\r\n{body}\r\n")


def status_rx(rcpt, dsn, status):
    return (r"postern/virtual\[\d+\]: \w+: to=<" + re.escape(rcpt) + r">, relay=virtual, delay=[\d.]+, "
            r"delays=[\d./]+, dsn=" + re.escape(dsn) + r", status=" + status + r" \(([^\n]*)\)")


def maildir_files(path):
    new = os.path.join(BASE, path, "new")
    return [os.path.join(new, n) for n in os.listdir(new)] if os.path.isdir(new) else []


def read(p):
    with open(p, errors="replace") as f:
        return f.read()


@unittest.skipUnless(is_root(), "virtual switches to the table's uid: root only")
@unittest.skipUnless(have_binaries(), "virtual or the queue daemons are not built")
class VirtualTest(unittest.TestCase):
    def test_maildir_two_users_with_their_own_uids(self):
        send(["alice@one.test", "bob@one.test"], body="for both")
        m = INST.wait_log(status_rx("alice@one.test", "2.0.0", "sent"), 30)
        self.assertEqual(m.group(1), "delivered to maildir")
        INST.wait_log(status_rx("bob@one.test", "2.0.0", "sent"), 30)
        for user, path, uid, gid in (("alice", "one.test/alice", 5001, 6001), ("bob", "one.test/bob", 5002, 6000)):
            files = [p for p in maildir_files(path) if "for both" in read(p)]
            self.assertEqual(len(files), 1, user)
            st = os.stat(files[0])
            self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (uid, gid, 0o600), user)
            text = read(files[0])
            self.assertTrue(text.startswith(f"Return-Path: <sender@client.test>\nX-Original-To: {user}@one.test\n"
                                            f"Delivered-To: {user}@one.test\n"), text)
            for d in ("", "/new", "/cur", "/tmp"):
                dst = os.stat(os.path.join(BASE, path) + d)
                self.assertEqual((dst.st_uid, dst.st_gid, stat.S_IMODE(dst.st_mode)), (uid, gid, 0o700), path + d)

    def test_extension_reaches_the_base_address(self):
        send(["alice+lists@one.test"], body="with extension")
        INST.wait_log(status_rx("alice+lists@one.test", "2.0.0", "sent"), 30)
        files = [p for p in maildir_files("one.test/alice") if "with extension" in read(p)]
        self.assertEqual(len(files), 1)
        self.assertIn("Delivered-To: alice+lists@one.test\n", read(files[0]))
        self.assertEqual(os.stat(files[0]).st_uid, 5001)

    def test_catch_all_creates_missing_directories(self):
        send(["anyone@two.test"], body="caught")
        INST.wait_log(status_rx("anyone@two.test", "2.0.0", "sent"), 30)
        files = maildir_files("two.test/deep/catchall")
        self.assertTrue(any("caught" in read(p) for p in files))
        for d in ("two.test", "two.test/deep", "two.test/deep/catchall"):
            st = os.stat(os.path.join(BASE, d))
            self.assertEqual((st.st_uid, st.st_gid), (5003, 6000), d)

    def test_mbox(self):
        send(["mbox@one.test"], body="From the first\nline")
        m = INST.wait_log(status_rx("mbox@one.test", "2.0.0", "sent"), 30)
        self.assertEqual(m.group(1), "delivered to mailbox")
        path = os.path.join(BASE, "one.test/mbox")
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (5003, 6000, 0o600))
        text = read(path)
        self.assertTrue(text.startswith("From sender@client.test "), text)
        self.assertIn("\nDelivered-To: mbox@one.test\n", text)
        self.assertIn("\n>From the first\n", text)
        self.assertFalse(os.path.exists(path + ".lock"))

    def test_unknown_user_bounces(self):
        send(["nobody-here@one.test"], sender="")
        m = INST.wait_log(status_rx("nobody-here@one.test", "5.1.1", "bounced"), 30)
        self.assertEqual(m.group(1), 'unknown user: "nobody-here@one.test"')

    def test_uid_below_minimum_defers(self):
        send(["low@one.test"], sender="")
        m = INST.wait_log(status_rx("low@one.test", "4.3.5", "deferred"), 30)
        self.assertEqual(m.group(1), "mail system configuration error")
        INST.wait_log(r"postern/virtual\[\d+\]: warning: recipient low@one\.test: bad uid 50 in virtual_uid_maps")
        self.assertFalse(os.path.exists(os.path.join(BASE, "one.test/low")))

    def test_dotdot_result_defers(self):
        send(["dots@one.test"], sender="")
        INST.wait_log(status_rx("dots@one.test", "4.3.5", "deferred"), 30)
        INST.wait_log(r"postern/virtual\[\d+\]: warning: recipient dots@one\.test: bad result "
                      r"\"one\.test/\.\./\.\./escape/\" in virtual_mailbox_maps")
        self.assertFalse(os.path.exists(os.path.join(INST.root, "escape")))

    def test_symlinked_mbox_is_refused(self):
        victim = os.path.join(BASE, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.chown(victim, 5003, 6000)
        os.symlink(victim, os.path.join(BASE, "one.test/link"))
        send(["link@one.test"], sender="")
        # Deferred, as Postfix's virtual(8) does: the base is the administrator's to fix.
        m = INST.wait_log(status_rx("link@one.test", r"4.2.0", "deferred"), 30)
        self.assertIn("symbolic link", m.group(1))
        self.assertEqual(read(victim), "precious\n")

    def test_maildir_that_cannot_be_created_is_deferred_until_it_can(self):
        send(["locked@one.test"], sender="", body="wait for me")
        m = INST.wait_log(status_rx("locked@one.test", "4.2.0", "deferred"), 30)
        self.assertIn("Permission denied", m.group(1))
        INST.wait_log(r"postern/virtual\[\d+\]: warning: perhaps you need to create the maildirs in advance")
        # The administrator fixes the directory; the retry delivers.
        os.chmod(os.path.join(BASE, "closed.test"), 0o1777)
        INST.wait_log(status_rx("locked@one.test", "2.0.0", "sent"), 30)
        files = maildir_files("closed.test/locked")
        self.assertEqual(len(files), 1)
        self.assertIn("wait for me", read(files[0]))

    def test_gid_zero_is_refused(self):
        send(["rootgid@one.test"], sender="")
        INST.wait_log(status_rx("rootgid@one.test", "4.3.5", "deferred"), 30)
        INST.wait_log(r"warning: recipient rootgid@one\.test: bad gid 0 in virtual_gid_maps")
        self.assertFalse(os.path.exists(os.path.join(BASE, "one.test/rootgid")))

    def test_mailbox_size_limit_bounces(self):
        send(["big@one.test"], sender="", body="x" * 5000)
        m = INST.wait_log(status_rx("big@one.test", "5.2.2", "bounced"), 30)
        self.assertIn("File too large", m.group(1))
        path = os.path.join(BASE, "one.test/big")
        self.assertEqual(os.path.getsize(path) if os.path.exists(path) else 0, 0)

    def test_delivered_to_loop_bounces(self):
        send(["loop@one.test"], sender="", headers="Delivered-To: Loop@One.Test\r\n")
        m = INST.wait_log(status_rx("loop@one.test", "5.4.6", "bounced"), 30)
        self.assertEqual(m.group(1), "mail forwarding loop for loop@one.test")
        self.assertEqual(maildir_files("one.test/loop"), [])

    def test_smtpd_rejects_unknown_virtual_users(self):
        for port, reply in ((STRICT_PORT, (550, b"5.1.1 <nobody@one.test>: Recipient address rejected: "
                                                b"User unknown in virtual mailbox table")),
                            (SOFT_PORT, (450, b"4.1.1 <nobody@one.test>: Recipient address rejected: "
                                              b"User unknown in virtual mailbox table"))):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.ehlo("client.test")
                s.mail("sender@client.test")
                self.assertEqual(s.rcpt("alice@one.test")[0], 250)
                self.assertEqual(s.rcpt("nobody@one.test"), reply)
        INST.wait_log(r"\w+: reject: RCPT from localhost\[127\.0\.0\.1\]: 450 4\.1\.1 <nobody@one\.test>")

    def test_soft_bounce_keeps_the_mail(self):
        send(["nobody@three.test"], sender="someone@client.test")
        # relay= names the master.cf service, as in Postfix.
        m = INST.wait_log(r"postern/virtual\[\d+\]: (\w+): to=<nobody@three\.test>, relay=vsoft, .*"
                          r"dsn=4\.1\.1, status=SOFTBOUNCE \(unknown user: \"nobody@three\.test\"\)", 30)
        qid = m.group(1)
        # Deferred, not bounced: still queued, and no bounce for the sender.
        wait_for(lambda: any(qid in files for _, _, files in os.walk(os.path.join(INST.queue, "deferred"))), 30,
                 what="the message in deferred/")
        self.assertNotRegex(INST.maillog(), rf"{qid}: sender non-delivery notification")
        INST.cmd("postsuper", ["-d", qid])

    def test_workers_are_the_mailbox_owners(self):
        # The agent keeps root as its real and saved uid (unpriv = n) and
        # works as mail_owner; the file work runs in its forked workers, each
        # of which became one mailbox owner for good (real, effective, saved
        # and file system uid alike).
        send(["bob@one.test"], body="worker check")
        # bob has other messages (and status lines) from other tests.
        files = wait_for(lambda: [p for p in maildir_files("one.test/bob") if "worker check" in read(p)], 30,
                         what="bob's message")
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(files[0]).st_uid, 5002)
        ids = {}
        for pid in INST.service_pids("virtual"):
            with open(f"/proc/{pid}/status") as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            ids[pid] = (st["Uid"].split(), st["Gid"].split(), st["Groups"].split())
        owner = pwd.getpwnam(INST.cmd("postconf", ["-h", "mail_owner"]).stdout.strip())
        roots = [p for p, (u, g, _) in ids.items() if u[0] == "0"]
        self.assertTrue(roots, ids)
        for p in roots:
            u, g, grp = ids[p]
            self.assertEqual(u, ["0", str(owner.pw_uid), "0", str(owner.pw_uid)], ids)
            self.assertEqual(g[1], str(owner.pw_gid), ids)
        workers = {int(u[0]): (u, g, grp) for p, (u, g, grp) in ids.items() if p not in roots}
        self.assertIn(5002, workers, ids)
        for uid, (u, g, grp) in workers.items():
            self.assertIn(uid, (5001, 5002, 5003))
            self.assertEqual(u, [str(uid)] * 4)
            self.assertEqual(len(set(g)), 1)
            self.assertEqual(grp, g[:1])  # just the table's gid

if __name__ == "__main__":
    unittest.main()
