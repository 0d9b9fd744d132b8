"""The local delivery agent (local(8)) driven directly over private/local.

A scratch instance runs pickup, cleanup, trivial-rewrite and local (no
qmgr): a message submitted with `sendmail` stays in incoming/, and each test
hands local a delivery_request for it (queue_name=incoming) over the real
socket with ipcwire.py, then checks the reply (one dsn/text/relay per
recipient), the log's status lines and the delivered files: mbox (From_
line, >From quoting, Delivered-To, owner), Maildir, aliases to users,
|commands, /files and :include: lists, .forward, unknown users, loops,
mailbox_size_limit and command exit codes.

Tests that need a real recipient account create two users with useradd
(root only; skipped otherwise) and remove them afterwards.
"""
import grp
import os
import pathlib
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import ipcwire
from harness import LIBEXEC, NO_QMGR_FLOW, SBIN, Instance, is_root, wait_for

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"
DOMAIN = "test.example"


def master_cf(bindir, rootspool):
    return (HEADER
            + "pickup unix n - n 60 1 pickup\n"
            + "cleanup unix n - n - 0 cleanup\n"
            + "rewrite unix - - n - - trivial-rewrite\n"
            + "local unix - n n - - local\n"
            + "localmd unix - n n - - local -o home_mailbox=Maildir/\n"
            + "localsz unix - n n - - local -o mailbox_size_limit=300 -o message_size_limit=300\n"
            + f"localmc unix - n n - - local -o mailbox_command={bindir}/savecmd\n"
            + f"localmcm unix - n n - - local -o mailbox_command_maps=texthash:{bindir}/cmdmap\n"
            + f"localsp unix - n n - - local -o mail_spool_directory={rootspool}\n"
            + "localmu unix - n n - - local -o max_use=3\n"
            + f"localmds unix - n n - - local -o mail_spool_directory={rootspool}/maildirs/\n"
            + f"localxd unix - n n - - local -o mailbox_command={bindir}/savecmd"
            + f" -o command_execution_directory={bindir}/../xd/$user\n"
            + "localbiff unix - n n - - local -o biff=yes\n"
            + "localhome unix - n n - - local -o require_home_directory=yes\n"
            + f"localdsn unix - n n - - local -o local_delivery_status_filter=regexp:{bindir}/dsn_filter\n")


def recipient_field(address, orig="", notify=0):
    """queue::encode_recipient(): tagged, length-prefixed fields."""
    out = f"a{len(address.encode())}:{address}"
    if orig:
        out += f"p{len(orig.encode())}:{orig}"
    if notify:
        out += f"n{len(str(notify))}:{notify}"
    return out


def have_binaries():
    return all(os.path.exists(os.path.join(LIBEXEC, d)) for d in ("local", "cleanup", "pickup", "trivial-rewrite")) \
        and all(os.path.exists(os.path.join(SBIN, c)) for c in ("sendmail", "postdrop", "postalias", "postern"))


@unittest.skipUnless(have_binaries(), "local, cleanup, pickup, trivial-rewrite, sendmail or postalias not built")
class LocalTest(unittest.TestCase):
    users = []

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="postern-local-", dir="/tmp")
        os.chmod(cls.base, 0o755)
        cls.spool = os.path.join(cls.base, "spool")
        os.mkdir(cls.spool)
        os.chmod(cls.spool, 0o1777)
        # Debian's layout: not world-writable, so mailboxes are created as root.
        cls.rootspool = os.path.join(cls.base, "rootspool")
        os.mkdir(cls.rootspool)
        os.chmod(cls.rootspool, 0o755)
        cls.out = os.path.join(cls.base, "out")  # where commands and file deliveries write
        os.mkdir(cls.out)
        os.chmod(cls.out, 0o1777)
        cls.homes = os.path.join(cls.base, "home")
        os.mkdir(cls.homes)
        os.chmod(cls.homes, 0o755)
        cls.bin = os.path.join(cls.base, "bin")
        os.mkdir(cls.bin)
        os.chmod(cls.bin, 0o755)
        cls.script("savecmd", f'#!/bin/sh\ncat > {cls.out}/cmd.out\nenv > {cls.out}/cmd.env\nid -u > {cls.out}/cmd.uid\n'
                              f'pwd > {cls.out}/cmd.pwd\n')
        cls.script("exit75", "#!/bin/sh\ncat >/dev/null\nexit 75\n")
        with open(os.path.join(cls.bin, "dsn_filter"), "w") as f:
            f.write("/^2\\.0\\.0 (delivered to .*)/ 2.0.0 $1 (filtered)\n"
                    "/^4\\.3\\.0 (cannot access home directory .*)/ 5.3.0 $1\n")
        cls.users = []
        if is_root():
            suffix = os.getpid() % 100000
            for n in ("a", "b"):
                name = f"ptl{suffix}{n}"
                subprocess.run(["userdel", "-r", name], capture_output=True)
                subprocess.run(["useradd", "-m", "-d", os.path.join(cls.homes, name), "-s", "/bin/sh", name],
                               check=True, capture_output=True)
                cls.users.append(pwd.getpwnam(name))
        cls.inc = os.path.join(cls.base, "list.inc")
        with open(cls.inc, "w") as f:
            f.write("# a list\n" + ", ".join(u.pw_name for u in cls.users) + "\n" if cls.users else "nobody-here\n")
        os.chmod(cls.inc, 0o644)
        # :include: files only their owner can read (root's, or a user's).
        cls.private_inc = {}
        for who in ("root", "user"):
            path = os.path.join(cls.base, f"{who}.inc")
            with open(path, "w") as f:
                f.write((cls.users[1 if who == "root" else 0].pw_name if cls.users else "nobody-here") + "\n")
            os.chmod(path, 0o600)
            if who == "user" and cls.users:
                os.chown(path, cls.users[1].pw_uid, cls.users[1].pw_gid)
            cls.private_inc[who] = path
        u1 = cls.users[0].pw_name if cls.users else "nosuchuser1"
        u2 = cls.users[1].pw_name if cls.users else "nosuchuser2"
        cls.aliases = os.path.join(cls.base, "aliases")
        with open(cls.aliases, "w") as f:
            f.write(f"both: {u1}, {u2}\n"
                    f"cmd: |{cls.bin}/savecmd\n"
                    f"tempfail: |{cls.bin}/exit75\n"
                    f"tofile: {cls.out}/file.mbox\n"
                    f"inc: :include:{cls.inc}\n"
                    f"incroot: :include:{cls.private_inc['root']}\n"
                    f"incuser: :include:{cls.private_inc['user']}\n"
                    f"incmissing: :include:{cls.base}/missing.inc\n"
                    f"far: someone@remote.invalid, other@remote.invalid\n"
                    f"olist: {u1}, {u2}, member@remote.invalid\n"
                    f"owner-olist: {u1}\n"
                    f"nobody-here: nosuchuser3\n")
        extra = (f"daemon_directory = {os.path.abspath(LIBEXEC)}\ncommand_directory = {os.path.abspath(SBIN)}\n"
                 f"recipient_delimiter = +\nmyhostname = {DOMAIN}\nmydestination = $myhostname, localhost\nmyorigin = $myhostname\n"
                 f"mail_spool_directory = {cls.spool}\nalias_maps = hash:{cls.aliases}\n"
                 f"alias_database = hash:{cls.aliases}\nrelayhost =\n" + NO_QMGR_FLOW)
        cls.inst = Instance("local", main_cf_extra=extra, master_cf=master_cf(cls.bin, cls.rootspool))
        try:
            cls.inst.cmd("postalias", [cls.aliases])
            cls.inst.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.inst.cleanup()
        except Exception:
            pass
        for u in cls.users:
            subprocess.run(["userdel", "-r", u.pw_name], capture_output=True)
        shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def script(cls, name, text):
        p = os.path.join(cls.bin, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o755)

    def setUp(self):
        for d in (self.spool, self.out, self.rootspool):
            for n in os.listdir(d):
                p = os.path.join(d, n)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
        for u in self.users:
            for n in (".forward", "Maildir"):
                p = os.path.join(u.pw_dir, n)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                elif os.path.exists(p):
                    os.unlink(p)

    def need_users(self):
        if not self.users:
            self.skipTest("needs root to create recipient accounts")
        return self.users

    # --- helpers -----------------------------------------------------
    def submit(self, body, sender="sender@remote.invalid", rcpt="whoever@remote.invalid"):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        before = len(re.findall(r"postern/pickup\[\d+\]: \w+: uid=\d+ from=<" + re.escape(sender) + ">",
                                self.inst.maillog()))
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", self.inst.dir, "-f", sender, rcpt],
                           input=body, capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        rx = re.compile(r"postern/pickup\[\d+\]: (\w+): uid=\d+ from=<" + re.escape(sender) + ">")
        found = wait_for(lambda: len(rx.findall(self.inst.maillog())) > before and rx.findall(self.inst.maillog()),
                         timeout=30, what=f"pickup of the message from {sender}")
        qid = found[-1]

        def ready():
            for dirpath, _, files in os.walk(os.path.join(self.inst.queue, "incoming")):
                if qid in files:
                    return bool(os.stat(os.path.join(dirpath, qid)).st_mode & 0o100)
            return False

        wait_for(ready, timeout=30, what=f"complete queue file {qid}")
        return qid

    def deliver(self, qid, recipients, service="local", notify=0, attrs_out=None):
        now = int(time.time() * 1e6)
        with ipcwire.Connection(os.path.join(self.inst.queue, "private", service), timeout=60) as c:
            t, attrs = c.call("delivery_request", [
                ("queue_name", "incoming"), ("queue_id", qid), ("nexthop", DOMAIN), ("flags", 0),
                ("arrival_usec", now), ("active_usec", now),
                ("recipients", [recipient_field(r, notify=notify) for r in recipients])])
        self.assertEqual(t, "delivery_reply", attrs)
        self.assertEqual(len(attrs["dsn"]), len(recipients))
        # relay= is the master.cf service name, as in Postfix.
        self.assertEqual(attrs["relay"], [service] * len(recipients))
        if attrs_out is not None:
            attrs_out.update(attrs)
        return list(zip(attrs["dsn"], attrs["text"]))

    def forwarded(self, reply):
        """The queue file of the new message a "forwarded as ID" reply names, as postcat shows it."""
        m = re.fullmatch(r"forwarded as (\w+)", reply[1])
        self.assertTrue(m, reply)
        return self.inst.cmd("postcat", ["-q", m.group(1)]).stdout

    def mbox(self, user):
        with open(os.path.join(self.spool, user.pw_name)) as f:
            return f.read()

    # --- mailboxes -----------------------------------------------------
    def test_delivery_status_filter(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: dsn\n\nbody\n")
        [(dsn, text)] = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localdsn")
        self.assertEqual(dsn, "2.0.0", text)
        self.assertTrue(text.endswith("(filtered)"), text)
        self.inst.wait_log(rf"{qid}: to=<{u.pw_name}@{re.escape(DOMAIN)}>.*status=sent \(delivered to .*\(filtered\)\)")

    def test_require_home_directory(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: home\n\nbody\n")
        away = u.pw_dir + ".away"
        os.rename(u.pw_dir, away)
        try:
            [(dsn, text)] = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localhome")
            self.assertEqual(dsn, "4.3.0", text)
            self.assertIn(f"cannot access home directory {u.pw_dir}: No such file or directory", text)
            # Without the setting the mailbox is written all the same.
            [(dsn, text)] = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"])
            self.assertEqual(dsn, "2.0.0", text)
        finally:
            os.rename(away, u.pw_dir)
        [(dsn, text)] = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localhome")
        self.assertEqual(dsn, "2.0.0", text)

    def test_mbox_delivery(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: mbox\n\nFrom the start\nplain line\n", sender="mbox-sender@remote.invalid")
        rcpt = f"{u.pw_name}@{DOMAIN}"
        self.assertEqual(self.deliver(qid, [rcpt]), [("2.0.0", "delivered to mailbox")])
        path = os.path.join(self.spool, u.pw_name)
        st = os.stat(path)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (u.pw_uid, 0o600))
        text = self.mbox(u)
        self.assertRegex(text, r"^From mbox-sender@remote\.invalid  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n")
        self.assertIn("Return-Path: <mbox-sender@remote.invalid>\n", text)
        self.assertIn(f"Delivered-To: {rcpt}\n", text)
        self.assertIn("\n>From the start\nplain line\n", text)
        self.assertTrue(text.endswith("plain line\n\n"))
        self.inst.wait_log(re.escape(qid) + r": to=<" + re.escape(rcpt)
                           + r">, relay=local, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                           r"status=sent \(delivered to mailbox\)")
        # A second delivery appends.
        self.deliver(qid, [rcpt.upper().replace(DOMAIN.upper(), DOMAIN)])
        self.assertEqual(self.mbox(u).count("\nSubject: mbox\n"), 2)

    def test_maildir_delivery(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: maildir\n\nFrom here\n")
        rcpt = f"{u.pw_name}@{DOMAIN}"
        self.assertEqual(self.deliver(qid, [rcpt], service="localmd"), [("2.0.0", "delivered to maildir")])
        new = os.path.join(u.pw_dir, "Maildir", "new")
        files = os.listdir(new)
        self.assertEqual(len(files), 1)
        st = os.stat(os.path.join(new, files[0]))
        self.assertEqual(st.st_uid, u.pw_uid)
        with open(os.path.join(new, files[0])) as f:
            text = f.read()
        self.assertTrue(text.startswith("Return-Path: <sender@remote.invalid>\n"), text)
        self.assertIn(f"Delivered-To: {rcpt}\n", text)
        self.assertIn("\nFrom here\n", text)  # no quoting in Maildir
        self.assertEqual(os.listdir(os.path.join(u.pw_dir, "Maildir", "tmp")), [])
        self.inst.wait_log(re.escape(qid) + r": to=<" + re.escape(rcpt) + r">.*status=sent \(delivered to maildir\)")

    def test_workers_are_the_recipients_and_reused(self):
        """Each agent keeps one worker per recipient identity: it runs as that
        user (all uids, gids and groups), holds nothing of the agent's but its
        two channels and the log, and serves later deliveries to that user."""
        a, b = self.need_users()
        rounds = [a, b, a, a, b]
        for u in rounds:
            qid = self.submit(f"Subject: worker {u.pw_name}\n\nhello\n")
            self.assertEqual(self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localmd"),
                             [("2.0.0", "delivered to maildir")])
        for u in (a, b):
            new = os.path.join(u.pw_dir, "Maildir", "new")
            mine = [f for f in os.listdir(new) if "worker" in pathlib.Path(new, f).read_text()]
            self.assertEqual(len(mine), rounds.count(u))
            self.assertTrue(all(os.stat(os.path.join(new, f)).st_uid == u.pw_uid for f in mine))

        def status(pid):
            with open(f"/proc/{pid}/status") as f:
                return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

        found = subprocess.run(["pgrep", "-f", f"libexec/local .*-n localmd"], capture_output=True,
                               text=True).stdout.split()
        # Workers are forks of their agent and show its command line.
        agents = [p for p in found if status(p)["PPid"] not in found]
        self.assertTrue(agents, "no localmd agent process")
        owner = pwd.getpwnam(self.inst.cmd("postconf", ["-h", "mail_owner"]).stdout.strip())
        workers = []
        for agent in agents:
            # Between deliveries the agent itself works as mail_owner: real
            # and saved uid root (to start the next worker), effective mail_owner.
            st = status(agent)
            self.assertEqual(st["Uid"].split()[:3], ["0", str(owner.pw_uid), "0"], st["Uid"])
            self.assertEqual(st["Gid"].split()[1], str(owner.pw_gid), st["Gid"])
            kids = subprocess.run(["pgrep", "-P", agent], capture_output=True, text=True).stdout.split()
            uids = []
            for w in kids:
                st = status(w)
                uid = int(st["Uid"].split()[0])
                self.assertEqual(st["Uid"].split(), [str(uid)] * 4, st["Uid"])
                user = a if uid == a.pw_uid else b
                self.assertEqual(uid, user.pw_uid)
                self.assertEqual(st["Gid"].split(), [str(user.pw_gid)] * 4)
                want_groups = sorted(set(os.getgrouplist(user.pw_name, user.pw_gid)))
                self.assertEqual(sorted(int(g) for g in st["Groups"].split()), want_groups)
                fds = [int(fd) for fd in os.listdir(f"/proc/{w}/fd") if int(fd) > 2]
                self.assertLessEqual(len(fds), 3, [os.readlink(f"/proc/{w}/fd/{fd}") for fd in fds])
                uids.append(uid)
            self.assertEqual(len(uids), len(set(uids)), "one worker per user and agent")
            workers += uids
        # Five deliveries for two users: at most two workers per agent that served them.
        self.assertEqual(set(workers), {a.pw_uid, b.pw_uid})
        self.assertLessEqual(len(workers), 2 * len(agents))

    def test_mailbox_command_runs_as_user(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: mc\n\nvia command\n")
        rcpt = f"{u.pw_name}+tag@{DOMAIN}"
        self.assertEqual(self.deliver(qid, [rcpt], service="localmc"),
                         [("2.0.0", f"delivered to command: {self.bin}/savecmd")])
        with open(os.path.join(self.out, "cmd.uid")) as f:
            self.assertEqual(int(f.read()), u.pw_uid)
        with open(os.path.join(self.out, "cmd.env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual((env.get("USER"), env.get("HOME"), env.get("EXTENSION")), (u.pw_name, u.pw_dir, "tag"))
        with open(os.path.join(self.out, "cmd.out")) as f:
            text = f.read()
        self.assertIn("via command", text)
        self.assertIn(f"Delivered-To: {rcpt}\n", text)

    def test_mailbox_command_maps_per_user(self):
        a, b = self.need_users()[:2]
        # Written before the agent of this service first starts (it reads
        # the table when it starts).
        with open(os.path.join(self.bin, "cmdmap"), "w") as f:
            f.write(f"{a.pw_name} {self.bin}/savecmd\n")
        qid = self.submit("Subject: mcm\n\nvia the map\n")
        self.assertEqual(self.deliver(qid, [f"{a.pw_name}@{DOMAIN}"], service="localmcm"),
                         [("2.0.0", f"delivered to command: {self.bin}/savecmd")])
        with open(os.path.join(self.out, "cmd.uid")) as f:
            self.assertEqual(int(f.read()), a.pw_uid)
        with open(os.path.join(self.out, "cmd.out")) as f:
            self.assertIn("via the map", f.read())
        # Not in the table: the mailbox, as without one.
        qid = self.submit("Subject: mcm2\n\nto the mailbox\n")
        self.assertEqual(self.deliver(qid, [f"{b.pw_name}@{DOMAIN}"], service="localmcm"),
                         [("2.0.0", "delivered to mailbox")])

    def test_root_created_spool_mailbox_is_safe(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: spool\n\nroot spool\n")
        rcpt = f"{u.pw_name}@{DOMAIN}"
        # A planted symbolic link is refused, its target untouched.
        target = os.path.join(self.out, "victim")
        with open(target, "w") as f:
            f.write("precious\n")
        link = os.path.join(self.rootspool, u.pw_name)
        os.symlink(target, link)
        r = self.deliver(qid, [rcpt], service="localsp")
        self.assertEqual(r[0][0][0], "5", r)
        self.assertIn("symbolic link", r[0][1])
        with open(target) as f:
            self.assertEqual(f.read(), "precious\n")
        os.unlink(link)
        # Created by root, owned by the recipient.
        self.assertEqual(self.deliver(qid, [rcpt], service="localsp"), [("2.0.0", "delivered to mailbox")])
        st = os.stat(link)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (u.pw_uid, u.pw_gid, 0o600))
        self.assertFalse(os.path.exists(link + ".lock"))
        # A group-writable spool (Debian's 2775 root:mail): the new mailbox
        # gets the spool's group, as under Postfix.
        os.unlink(link)
        spool_gid = grp.getgrnam("mail").gr_gid if "mail" in [g.gr_name for g in grp.getgrall()] else 8
        os.chown(self.rootspool, 0, spool_gid)
        os.chmod(self.rootspool, 0o2775)
        try:
            self.assertEqual(self.deliver(qid, [rcpt], service="localsp"), [("2.0.0", "delivered to mailbox")])
            st = os.stat(link)
            self.assertEqual((st.st_uid, st.st_gid), (u.pw_uid, spool_gid))
        finally:
            os.chmod(self.rootspool, 0o755)
            os.chown(self.rootspool, 0, 0)
        # A mailbox owned by someone else is a temporary error (strict_mailbox_ownership).
        os.chown(link, 0, 0)
        r = self.deliver(qid, [rcpt], service="localsp")
        self.assertEqual(r[0][0][0], "4", r)

    def test_unknown_user_bounces(self):
        qid = self.submit("Subject: unknown\n\nx\n")
        r = self.deliver(qid, [f"nosuchuser-x7@{DOMAIN}"])
        self.assertEqual(r, [("5.1.1", 'unknown user: "nosuchuser-x7"')])
        self.inst.wait_log(re.escape(qid) + r": to=<nosuchuser-x7@test\.example>, relay=local, .*dsn=5\.1\.1, "
                           r"status=bounced \(unknown user: \"nosuchuser-x7\"\)")

    # --- one connection, several requests (ipc/proto/deliver.h) -------
    def request(self, qid, rcpt):
        now = int(time.time() * 1e6)
        return ("delivery_request", [
            ("queue_name", "incoming"), ("queue_id", qid), ("nexthop", DOMAIN), ("flags", 0),
            ("arrival_usec", now), ("active_usec", now), ("recipients", [recipient_field(rcpt)])])

    def test_connection_carries_requests_until_max_use(self):
        qid = self.submit("Subject: kept\n\nx\n")
        with ipcwire.Connection(os.path.join(self.inst.queue, "private", "localmu"), timeout=30) as c:
            for n in range(3):
                t, a = c.call(*self.request(qid, f"nosuchuser-k{n}@{DOMAIN}"))
                self.assertEqual((t, a["dsn"]), ("delivery_reply", ["5.1.1"]), a)
                # max_use=3: the connection's third request is the process's
                # last, and its reply says so.
                self.assertEqual(a["closing"], 1 if n == 2 else 0, (n, a))
            with self.assertRaises(EOFError):
                c.read_frame()
        pids = {self.inst.wait_log(r"postern/local\[(\d+)\]: " + re.escape(qid)
                                   + rf": to=<nosuchuser-k{n}@test\.example>, .*status=bounced").group(1)
                for n in range(3)}
        self.assertEqual(len(pids), 1, pids)  # one process served them all

    def test_requests_sent_ahead_are_answered_in_order_until_closing(self):
        # qmgr sends a lane's next request before the reply to the last one
        # (qmgr.cpp, deliver()). The agent answers one at a time, in order,
        # and never reads a request sent behind the reply that says closing,
        # so qmgr can send that one again without a duplicate delivery.
        qid = self.submit("Subject: ahead\n\nx\n")
        with ipcwire.Connection(os.path.join(self.inst.queue, "private", "localmu"), timeout=30) as c:
            c.send_raw(b"".join(ipcwire.frame(ipcwire.encode(*self.request(qid, f"nosuchuser-a{n}@{DOMAIN}")))
                                for n in range(4)))
            for n in range(3):
                t, a = ipcwire.decode(c.read_frame())
                self.assertEqual((t, a["dsn"], a["closing"]), ("delivery_reply", ["5.1.1"], 1 if n == 2 else 0), a)
                self.assertIn(f"nosuchuser-a{n}", a["text"][0])
            # Unread data makes a Unix socket's close a reset.
            with self.assertRaises((EOFError, ConnectionResetError)):
                c.read_frame()
        for n in range(3):
            self.inst.wait_log(re.escape(qid) + rf": to=<nosuchuser-a{n}@test\.example>, .*status=bounced")
        self.assertNotIn("nosuchuser-a3", self.inst.maillog())

    def test_reload_ends_a_kept_connection_at_once(self):
        # A connection waiting for its next request must not keep a process
        # with the old configuration (the skeleton's drain allows 30 s).
        qid = self.submit("Subject: reload\n\nx\n")
        with ipcwire.Connection(os.path.join(self.inst.queue, "private", "local"), timeout=30) as c:
            t, a = c.call(*self.request(qid, f"nosuchuser-r1@{DOMAIN}"))
            self.assertEqual((a["dsn"], a["closing"]), (["5.1.1"], 0), a)
            started = time.monotonic()
            self.inst.reload()
            with self.assertRaises(EOFError):
                c.read_frame()
            self.assertLess(time.monotonic() - started, 10)

    # --- aliases -------------------------------------------------------
    def test_alias_to_two_users(self):
        a, b = self.need_users()
        qid = self.submit("Subject: both\n\nhello both\n")
        r = self.deliver(qid, [f"both@{DOMAIN}"])
        self.assertEqual(r[0][0], "2.0.0", r)
        for u in (a, b):
            text = self.mbox(u)
            self.assertIn("hello both", text)
            # frozen_delivered_to: the address local was asked to deliver to.
            self.assertIn(f"Delivered-To: both@{DOMAIN}\n", text)
        log = self.inst.wait_log(re.escape(qid) + r": to=<" + re.escape(b.pw_name) + r"@test\.example>, "
                                 r"orig_to=<both@test\.example>, relay=local")
        self.assertTrue(log)

    def test_alias_to_command(self):
        qid = self.submit("Subject: cmd\n\ncommand body\n", sender="cmd-sender@remote.invalid")
        r = self.deliver(qid, [f"cmd+ext@{DOMAIN}"])
        self.assertEqual(r, [("2.0.0", f"delivered to command: {self.bin}/savecmd")])
        with open(os.path.join(self.out, "cmd.out")) as f:
            text = f.read()
        self.assertTrue(text.startswith("From cmd-sender@remote.invalid  "), text)
        self.assertIn(f"Delivered-To: cmd+ext@{DOMAIN}\n", text)
        self.assertIn("command body\n", text)
        with open(os.path.join(self.out, "cmd.env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual(env.get("SENDER"), "cmd-sender@remote.invalid")
        self.assertEqual(env.get("RECIPIENT"), f"cmd+ext@{DOMAIN}")
        self.assertEqual(env.get("LOCAL"), "cmd+ext")
        self.assertEqual(env.get("DOMAIN"), DOMAIN)
        if is_root():
            with open(os.path.join(self.out, "cmd.uid")) as f:
                self.assertEqual(int(f.read()), pwd.getpwnam("nobody").pw_uid)  # default_privs

    def test_command_tempfail_defers(self):
        qid = self.submit("Subject: tempfail\n\nx\n")
        r = self.deliver(qid, [f"tempfail@{DOMAIN}"])
        self.assertEqual(r[0][0][0], "4", r)
        self.assertIn("temporary failure", r[0][1])
        self.inst.wait_log(re.escape(qid) + r": to=<tempfail@test\.example>, .*status=deferred")

    def test_alias_to_file(self):
        qid = self.submit("Subject: file\n\nFrom inside\n")
        path = os.path.join(self.out, "file.mbox")
        self.assertEqual(self.deliver(qid, [f"tofile@{DOMAIN}"]), [("2.0.0", f"delivered to file: {path}")])
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith("From sender@remote.invalid  "))
        self.assertIn(f"Delivered-To: tofile@{DOMAIN}\n", text)
        self.assertIn("\n>From inside\n", text)
        if is_root():
            self.assertEqual(os.stat(path).st_uid, pwd.getpwnam("nobody").pw_uid)

    def test_include(self):
        """As Postfix's deliver_switch(): the local names of an :include:
        file are resubmitted, one new message, each with its own status."""
        a, b = self.need_users()
        qid = self.submit("Subject: include\n\nincluded\n")
        r = self.deliver(qid, [f"inc@{DOMAIN}"])
        self.assertEqual(r[0][0], "2.0.0", r)
        text = self.forwarded(r[0])
        for u in (a, b):
            self.assertIn(f"recipient: {u.pw_name}@{DOMAIN}", text)
            self.assertFalse(os.path.exists(os.path.join(self.spool, u.pw_name)))
        self.assertIn("included", text)

    def test_include_in_root_owned_aliases_is_read_as_root_or_its_owner(self):
        """As in Postfix: a root-owned file is read with root's rights, any
        other with its owner's (mode 0600 both: default_privs could read
        neither); a file that cannot be found bounces (5.3.5)."""
        a, b = self.need_users()
        for alias, user in (("incroot", b), ("incuser", a)):
            qid = self.submit(f"Subject: private {alias}\n\nprivate list\n")
            r = self.deliver(qid, [f"{alias}@{DOMAIN}"])
            self.assertEqual(r[0][0], "2.0.0", r)
            text = self.forwarded(r[0])
            self.assertIn(f"recipient: {user.pw_name}@{DOMAIN}", text)
            self.assertIn(f"private {alias}", text)
        qid = self.submit("Subject: missing\n\nx\n")
        r = self.deliver(qid, [f"incmissing@{DOMAIN}"])
        self.assertEqual(r[0][0], "5.3.5", r)
        self.assertIn("missing.inc", r[0][1])

    def test_forward_to_remote_resubmits(self):
        qid = self.submit("Subject: far\n\nfar away\n", sender="far-sender@remote.invalid")
        r = self.deliver(qid, [f"far@{DOMAIN}"])
        self.assertEqual(r[0][0], "2.0.0", r)
        m = re.fullmatch(r"forwarded as (\w+)", r[0][1])
        self.assertTrue(m, r)
        new = m.group(1)
        self.assertNotEqual(new, qid)
        text = self.inst.cmd("postcat", ["-q", new]).stdout
        # One new message for both addresses (same sender), as Postfix batches forwards.
        self.assertIn("someone@remote.invalid", text)
        self.assertIn("other@remote.invalid", text)
        self.assertIn("far-sender@remote.invalid", text)
        self.assertIn("Delivered-To: far@test.example", text)
        self.assertIn("far away", text)

    # --- users ---------------------------------------------------------
    def test_dot_forward(self):
        a, b = self.need_users()
        fwd = os.path.join(b.pw_dir, ".forward")
        with open(fwd, "w") as f:
            f.write(f"{a.pw_name}, \\{b.pw_name}\n")
        os.chown(fwd, b.pw_uid, b.pw_gid)
        os.chmod(fwd, 0o644)
        qid = self.submit("Subject: fwd\n\nforwarded body\n")
        r = self.deliver(qid, [f"{b.pw_name}@{DOMAIN}"])
        self.assertEqual(r[0][0], "2.0.0", r)
        # The user's own name is the mailbox; another local user gets a
        # message of her own (Postfix resubmits), with b's Delivered-To.
        self.assertIn("forwarded body", self.mbox(b))
        self.assertFalse(os.path.exists(os.path.join(self.spool, a.pw_name)))
        new = self.inst.wait_log(re.escape(qid) + r": forwarded as (\w+)").group(1)
        text = self.inst.cmd("postcat", ["-q", new]).stdout
        self.assertIn(f"recipient: {a.pw_name}@{DOMAIN}", text)
        self.assertIn(f"Delivered-To: {b.pw_name}@{DOMAIN}", text)
        self.inst.wait_log(re.escape(qid) + rf": to=<{a.pw_name}@{re.escape(DOMAIN)}>, orig_to=<{b.pw_name}@"
                           + r".*status=sent \(forwarded as \w+\)")
        # Group-writable is accepted, as in Postfix; world-writable, a
        # symbolic link or a foreign owner is not, and the first file that
        # exists ends the search: the mailbox, not ~/.forward+ext's fallback.
        os.chmod(fwd, 0o664)
        r = self.deliver(qid, [f"{b.pw_name}@{DOMAIN}"])
        self.assertRegex(r[0][1], r"forwarded as \w+|delivered to 2 destinations")
        real = os.path.join(b.pw_dir, "real-forward")
        os.rename(fwd, real)
        os.symlink(real, fwd)
        for ext_fwd in (False, True):
            os.unlink(os.path.join(self.spool, b.pw_name))
            rcpt = f"{b.pw_name}+x@{DOMAIN}" if ext_fwd else f"{b.pw_name}@{DOMAIN}"
            if ext_fwd:
                os.unlink(fwd)
                os.chmod(real, 0o646)  # world-writable
                os.rename(real, os.path.join(b.pw_dir, ".forward+x"))
                with open(fwd, "w") as f:
                    f.write(f"{a.pw_name}\n")
                os.chown(fwd, b.pw_uid, b.pw_gid)
            r = self.deliver(qid, [rcpt])
            self.assertEqual(r[0], ("2.0.0", "delivered to mailbox"), r)
            self.assertIn("forwarded body", self.mbox(b))
        self.inst.wait_log(r"warning: file .*/\.forward is not a regular file")
        self.inst.wait_log(r"warning: file .*/\.forward\+x is world writable")
        os.unlink(os.path.join(b.pw_dir, ".forward+x"))

    def test_owner_list_members_resubmitted_with_the_owner_as_sender(self):
        a, b = self.need_users()
        qid = self.submit("Subject: list\n\nlist body\n", sender="poster@remote.invalid")
        attrs = {}
        r = self.deliver(qid, [f"olist@{DOMAIN}"], notify=2, attrs_out=attrs)  # NOTIFY=SUCCESS
        self.assertEqual(r[0][0], "2.0.0", r)
        text = self.forwarded(r[0])
        self.assertIn(f"sender: owner-olist@{DOMAIN}", text)
        for rcpt in (f"{a.pw_name}@{DOMAIN}", f"{b.pw_name}@{DOMAIN}", "member@remote.invalid"):
            self.assertIn(f"recipient: {rcpt}", text)
        # A list is a new message: the members do not inherit SUCCESS, and
        # the list's own notice says "delivered" (the default action).
        self.assertIn("dsn_notify_flags: NEVER", text)
        self.assertNotIn("SUCCESS", text)
        self.assertEqual(attrs.get("action", ["delivered"]), ["delivered"])
        for u in (a, b):
            self.assertFalse(os.path.exists(os.path.join(self.spool, u.pw_name)))

    def test_alias_expansion_reports_expanded(self):
        """NOTIFY=SUCCESS on an alias: one "expanded" notice for the alias;
        its members are delivered without SUCCESS (Postfix's alias.c)."""
        a, b = self.need_users()
        qid = self.submit("Subject: both\n\nboth body\n")
        attrs = {}
        r = self.deliver(qid, [f"both@{DOMAIN}"], notify=2, attrs_out=attrs)
        self.assertEqual(r[0][0], "2.0.0", r)
        self.assertEqual(attrs.get("action"), ["expanded"])
        qid = self.submit("Subject: far\n\nfar body\n")
        r = self.deliver(qid, [f"far@{DOMAIN}"], notify=6, attrs_out=attrs)  # SUCCESS,FAILURE
        self.assertIn("dsn_notify_flags: FAILURE\n", self.forwarded(r[0]))

    def test_command_environment_and_execution_directory(self):
        """As Postfix's local/command.c: LOGNAME/USER name the recipient (the
        alias for an alias command), HOME/SHELL are unset for default_privs;
        command_execution_directory expands $user."""
        qid = self.submit("Subject: env\n\nx\n")
        self.assertEqual(self.deliver(qid, [f"cmd+Tag@{DOMAIN}"])[0][0], "2.0.0")
        with open(os.path.join(self.out, "cmd.env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual(env.get("LOGNAME"), "cmd")
        self.assertEqual(env.get("USER"), "cmd")
        self.assertEqual(env.get("EXTENSION"), "tag")  # lowercased, as Postfix's
        self.assertNotIn("HOME", env)
        self.assertNotIn("SHELL", env)
        u = self.need_users()[0]
        for n in os.listdir(self.out):  # nobody's files; the sticky directory keeps the user out
            os.unlink(os.path.join(self.out, n))
        xd = os.path.join(self.base, "xd", u.pw_name)
        os.makedirs(xd, exist_ok=True)
        r = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localxd")
        self.assertEqual(r[0][0], "2.0.0", r)
        with open(os.path.join(self.out, "cmd.pwd")) as f:
            self.assertEqual(f.read().strip(), os.path.realpath(xd))
        with open(os.path.join(self.out, "cmd.env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual(env.get("LOGNAME"), u.pw_name)
        self.assertEqual(env.get("HOME"), u.pw_dir)

    def test_maildir_in_the_spool_directory(self):
        u = self.need_users()[0]
        spool = os.path.join(self.rootspool, "maildirs")
        os.mkdir(spool)
        os.chmod(spool, 0o1777)
        qid = self.submit("Subject: spool maildir\n\nin the spool\n")
        r = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localmds")
        self.assertEqual(r, [("2.0.0", "delivered to maildir")])
        self.inst.wait_log(re.escape(qid) + rf": to=<{u.pw_name}@{re.escape(DOMAIN)}>, relay=localmds, ")
        new = os.path.join(spool, u.pw_name, "new")
        files = os.listdir(new)
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(os.path.join(new, files[0])).st_uid, u.pw_uid)
        with open(os.path.join(new, files[0])) as f:
            self.assertIn("in the spool", f.read())

    def test_biff_notice(self):
        import socket
        u = self.need_users()[0]
        try:
            port = socket.getservbyname("biff", "udp")
        except OSError:
            self.skipTest("no biff/udp in /etc/services")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            s.close()
            self.skipTest(f"cannot bind the biff port: {e}")
        with s:
            s.settimeout(30)
            qid = self.submit("Subject: biff\n\nx\n")
            self.assertEqual(self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localbiff")[0][0], "2.0.0")
            self.assertEqual(s.recv(600), f"{u.pw_name}@0\0".encode())
            size = os.path.getsize(os.path.join(self.spool, u.pw_name))
            self.assertEqual(self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localbiff")[0][0], "2.0.0")
            self.assertEqual(s.recv(600), f"{u.pw_name}@{size}\0".encode())

    def test_loop_detection(self):
        u = self.need_users()[0]
        rcpt = f"{u.pw_name}@{DOMAIN}"
        qid = self.submit(f"Delivered-To: {rcpt.upper()}\nSubject: loop\n\nx\n")
        r = self.deliver(qid, [rcpt])
        self.assertEqual(r, [("5.4.6", f"mail forwarding loop for {rcpt}")])
        self.assertFalse(os.path.exists(os.path.join(self.spool, u.pw_name)))

    def test_mailbox_size_limit(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: big\n\n" + "x" * 150 + "\n")
        r = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}"], service="localsz")
        self.assertEqual(r[0][0], "5.2.2", r)
        # Nothing half-written stays behind.
        path = os.path.join(self.spool, u.pw_name)
        self.assertTrue(not os.path.exists(path) or os.path.getsize(path) == 0)

    def test_several_recipients_one_reply_each(self):
        u = self.need_users()[0]
        qid = self.submit("Subject: several\n\nx\n")
        r = self.deliver(qid, [f"{u.pw_name}@{DOMAIN}", f"nosuch-q1@{DOMAIN}", f"tempfail@{DOMAIN}"])
        self.assertEqual([d for d, _ in r], ["2.0.0", "5.1.1", "4.3.0"])

    def test_bad_content_record_defers_before_a_command_runs(self):
        # The agent checks every record before it starts; its worker trusts
        # that and does not walk the content again. A command must never
        # get part of a message: the delivery defers and nothing runs.
        qid = self.submit("Subject: bad record\n\nline one\nBAD-RECORD-HERE\nline three\n",
                          sender="bad-sender@remote.invalid")
        path = next(os.path.join(d, qid) for d, _, files in os.walk(os.path.join(self.inst.queue, "incoming"))
                    if qid in files)
        with open(path, "r+b") as f:
            data = f.read()
            at = data.index(b"BAD-RECORD-HERE") - 5
            self.assertEqual(data[at:at + 1], b"N")  # a content line record: type, 4-byte length, text
            f.seek(at)
            f.write(b"Z")
        r = self.deliver(qid, [f"cmd@{DOMAIN}"])
        self.assertEqual(r[0][0][0], "4", r)
        self.assertIn("cannot read queue file", r[0][1])
        self.assertFalse(os.path.exists(os.path.join(self.out, "cmd.out")))

    def test_missing_queue_file_defers(self):
        r = self.deliver("ABCDEF123", [f"whoever@{DOMAIN}"])
        self.assertEqual(r[0][0][0], "4", r)


if __name__ == "__main__":
    unittest.main()
