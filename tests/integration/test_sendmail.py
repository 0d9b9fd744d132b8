"""Local submission end to end: sendmail -> postdrop -> maildrop -> pickup -> cleanup.

Each test runs the real commands against a scratch instance (harness.py)
whose master.cf runs pickup and cleanup (and trivial-rewrite when built),
and checks what a user or administrator sees: exit codes, SMTP replies,
log lines, and queue files (read back with postcat).
"""
import os
import pwd
import grp
import re
import shutil
import subprocess
import signal
import tempfile
import time
import unittest

from harness import LIBEXEC, NO_QMGR_FLOW, SBIN, Instance, is_root, wait_for

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"


def master_cf():
    text = HEADER + "pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\n"
    if os.path.exists(os.path.join(LIBEXEC, "trivial-rewrite")):
        text += "rewrite unix - - n - - trivial-rewrite\n"
    return text


class SendmailTest(unittest.TestCase):
    def make(self, start=True, main_cf_extra=""):
        # The build tree's programs, whatever `postern init` would pick (the
        # later command_directory of main_cf_extra wins where a test sets one).
        extra = f"daemon_directory = {os.path.abspath(LIBEXEC)}\ncommand_directory = {os.path.abspath(SBIN)}\n"
        inst = Instance("sendmail", main_cf_extra=extra + NO_QMGR_FLOW + main_cf_extra, master_cf=master_cf())
        self.addCleanup(inst.cleanup)
        if start:
            inst.start()
        return inst

    def sendmail(self, inst, args, input="", user=None, program="sendmail", sbin=SBIN):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        env.pop("NAME", None)
        argv = [os.path.join(sbin, program), "-C", inst.dir] + list(args)
        if user is not None:
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"] + argv
        return subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=60)

    def command_copy(self, *progs):
        """A directory under /tmp with copies of `progs` that any user may run
        (the build tree may be in a directory only root can enter)."""
        cmd_dir = tempfile.mkdtemp(prefix="postern-cmd-", dir="/tmp")
        self.addCleanup(shutil.rmtree, cmd_dir, True)
        os.chmod(cmd_dir, 0o755)
        for prog in progs:
            shutil.copy(os.path.join(SBIN, prog), os.path.join(cmd_dir, prog))
            os.chmod(os.path.join(cmd_dir, prog), 0o755)
        return cmd_dir

    def queue_files(self, inst, queue):
        out = []
        for dirpath, _, files in os.walk(os.path.join(inst.queue, queue)):
            out += [os.path.join(dirpath, f) for f in files]
        return out

    def wait_message(self, inst, sender):
        """The queue ID cleanup gave the message pickup submitted for `sender`."""
        m = inst.wait_log(r"postern/pickup\[\d+\]: (\w+): uid=\d+ from=<" + re.escape(sender) + ">", timeout=30)
        qid = m.group(1)
        # cleanup creates the file when the submission opens; it is complete
        # only once it carries the ready mark (owner execute bit).
        def ready():
            for p in (self.queue_files(inst, "incoming") + self.queue_files(inst, "active")
                      + self.queue_files(inst, "deferred")):
                if os.path.basename(p) == qid:
                    try:
                        return bool(os.stat(p).st_mode & 0o100)
                    except FileNotFoundError:
                        return False
            return False

        wait_for(ready, timeout=30, what=f"complete queue file {qid}")
        return qid

    def postcat(self, inst, qid):
        return inst.cmd("postcat", ["-q", qid]).stdout

    def recipients(self, text):
        return sorted(re.findall(r"(?m)^(?:recipient|done_recipient): (\S+)", text))

    # --- with the master running ------------------------------------------
    def test_argv_recipients_sender_and_full_name(self):
        inst = self.make()
        p = self.sendmail(inst, ["-f", "alice@example.com", "-F", "Alice Example", "bob@example.com"],
                          "Subject: hello\n\nfirst line\n.\nnot part of the message\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")
        qid = self.wait_message(inst, "alice@example.com")
        text = self.postcat(inst, qid)
        self.assertIn("bob@example.com", self.recipients(text))
        self.assertIn("first line", text)
        self.assertNotIn("not part of the message", text)
        self.assertRegex(text, r"(?m)^From: .*Alice Example")
        # Who submitted it, by uid (Postfix's "from userid N"), first in the headers.
        self.assertRegex(text, rf"(?m)^\*\*\* MESSAGE CONTENTS .*\nReceived: by \S+ \(Postern, from userid "
                               rf"{os.getuid()}\)\n\tid {qid}; ")
        wait_for(lambda: self.queue_files(inst, "maildrop") == [], what="maildrop emptied")

    def test_first_line_cannot_join_our_received_header(self):
        # A message that starts with white space: pickup puts an empty line
        # before it, so it is not part of pickup's own Received: header.
        inst = self.make()
        p = self.sendmail(inst, ["-f", "fold@example.com", "bob@example.com"],
                          "  (from forged.example)\nSubject: x\n\nbody\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.postcat(inst, self.wait_message(inst, "fold@example.com"))
        received = re.search(r"(?ms)^Received: .*?(?=^\S)", text).group(0)
        self.assertNotIn("forged.example", received)
        self.assertRegex(text, r"\n\n  \(from forged\.example\)\nSubject: x\n")

    def test_default_sender_is_login_name_and_i_keeps_dots(self):
        inst = self.make()
        login = pwd.getpwuid(os.getuid()).pw_name
        p = self.sendmail(inst, ["-i", "carol@example.com"], "Subject: dots\r\n\r\nbefore\r\n.\r\nafter\r\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        qid = self.wait_message(inst, login)
        self.assertRegex(inst.maillog(), qid + r": uid=" + str(os.getuid()) + " from=<" + re.escape(login) + ">")
        text = self.postcat(inst, qid)
        self.assertIn("after", text)
        self.assertNotIn("\r", text)

    def test_extract_recipients_removes_bcc(self):
        inst = self.make()
        msg = ("From: sender@example.com\nTo: to@example.com\nCc: cc@example.com\nBcc: hidden@example.com\n"
               "Subject: -t\n\nbody\n")
        p = self.sendmail(inst, ["-t", "-f", "t-sender@example.com"], msg)
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.postcat(inst, self.wait_message(inst, "t-sender@example.com"))
        rcpts = self.recipients(text)
        for r in ("to@example.com", "cc@example.com", "hidden@example.com"):
            self.assertIn(r, rcpts)
        self.assertNotRegex(text, r"(?mi)^Bcc:")
        # -N applies to the recipients taken from the header too (Postfix).
        p = self.sendmail(inst, ["-t", "-N", "success,failure", "-f", "n-sender@example.com"],
                          "To: notify@example.com\nSubject: -N\n\nbody\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = self.postcat(inst, self.wait_message(inst, "n-sender@example.com"))
        self.assertRegex(text, r"dsn_notify_flags: SUCCESS,FAILURE\n(?:\w+: .*\n)*?recipient: notify@example\.com")

    def test_extract_without_recipients_is_a_usage_error(self):
        # As Postfix's sendmail: refused at once, nothing queued.
        inst = self.make(start=False)
        for msg in ("Subject: none\n\nbody\nTo: not@header.example\n",
                    "To: undisclosed-recipients:;\nSubject: none\n\nbody\n",
                    "To: a@example.com\nResent-To: group:;\n\nbody\n"):
            p = self.sendmail(inst, ["-t", "-f", "t-none@example.com"], msg)
            self.assertEqual(p.returncode, 64, p.stderr)
            self.assertIn("No recipient addresses found in message header", p.stderr)
        self.assertEqual(self.queue_files(inst, "maildrop"), [])
        # A recipient on the command line is enough.
        p = self.sendmail(inst, ["-t", "-f", "t-none@example.com", "cmd@example.com"], "Subject: x\n\nbody\n")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bs_session(self):
        inst = self.make()
        dialogue = ("EHLO client.example.com\r\nMAIL FROM:<smtp-sender@example.com>\r\n"
                    "RCPT TO:<dave@example.com>\r\nDATA\r\nSubject: -bs\r\n\r\n..dot stuffed\r\n.\r\n"
                    "NOOP\r\nRCPT TO:<x@example.com>\r\nQUIT\r\n")
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", inst.dir, "-bs"], input=dialogue.encode(),
                           capture_output=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertTrue(out.endswith("\r\n") and "\n" not in out.replace("\r\n", ""), out)
        codes = re.findall(r"(?m)^(\d{3}) ", out)
        self.assertEqual(codes, ["220", "250", "250", "250", "354", "250", "250", "503", "221"], out)
        self.assertIn("250 2.0.0 Ok: queued", out)
        text = self.postcat(inst, self.wait_message(inst, "smtp-sender@example.com"))
        self.assertIn("dave@example.com", self.recipients(text))
        self.assertRegex(text, r"(?m)^\.dot stuffed")

    def test_usage_errors_and_exit_codes(self):
        inst = self.make(start=False)
        p = self.sendmail(inst, [], "x\n")
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn("sendmail: fatal:", p.stderr)
        p = self.sendmail(inst, ["-bd"])
        self.assertEqual(p.returncode, 64)
        self.assertIn("postern start", p.stderr)
        self.assertEqual(self.sendmail(inst, ["-Z", "x@example.com"]).returncode, 64)
        # A bad -N value is ignored with a warning, as Postfix does.
        p = self.sendmail(inst, ["-N", "maybe", "x@example.com"], "x\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("sendmail: warning: bad -N option value -- ignored", p.stderr)
        for f in self.queue_files(inst, "maildrop"):
            os.unlink(f)
        for bad in (["-XV", "x@example.com"], ["-n", "x@example.com"], ["-qZ"]):
            self.assertEqual(self.sendmail(inst, bad).returncode, 64, bad)
        self.assertEqual(self.sendmail(inst, ["-f"]).returncode, 64)
        if not os.path.exists(os.path.join(SBIN, "postqueue")):
            for prog, args in (("sendmail", ["-bp"]), ("mailq", []), ("sendmail", ["-q"])):
                if not os.path.exists(os.path.join(SBIN, prog)):
                    continue
                p = self.sendmail(inst, args, program=prog)
                self.assertEqual(p.returncode, 69, p.stderr)
                self.assertIn("postqueue is not installed", p.stderr)
        # postdrop itself refuses garbage and leaves nothing behind.
        p = subprocess.run([os.path.join(SBIN, "postdrop"), "-c", inst.dir], input=b"garbage",
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 65, p.stderr)
        self.assertEqual(self.queue_files(inst, "maildrop"), [])

    def test_bi_and_newaliases_rebuild_alias_database(self):
        inst = self.make(start=False)
        aliases = os.path.join(inst.root, "aliases")
        with open(aliases, "w") as f:
            f.write("postmaster: root\nabuse: postmaster\n")
        with open(inst.path("main.cf"), "a") as f:
            f.write(f"alias_database = hash:{aliases}\n")
        p = self.sendmail(inst, ["-bi"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(aliases + ".db"))
        os.unlink(aliases + ".db")
        if os.path.exists(os.path.join(SBIN, "newaliases")):
            p = self.sendmail(inst, [], program="newaliases")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(os.path.exists(aliases + ".db"))
        with open(inst.path("main.cf"), "a") as f:
            f.write(f"alias_database = hash:{inst.root}/missing/aliases\n")
        p = self.sendmail(inst, ["-bi"])
        self.assertEqual(p.returncode, 69, p.stderr)

    # --- without the master ----------------------------------------------
    def test_works_without_master_and_refuses_junk(self):
        inst = self.make(start=False)
        p = self.sendmail(inst, ["-f", "offline@example.com", "erin@example.com"], "Subject: offline\n\nwaiting\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        files = self.queue_files(inst, "maildrop")
        self.assertEqual(len(files), 1)
        mode = os.stat(files[0]).st_mode
        self.assertTrue(mode & 0o100, "ready mark missing")
        self.assertFalse(mode & 0o022, "maildrop file is writable by others")
        self.assertEqual(mode & 0o777, 0o544, "readable for pickup with the ready mark, as Postfix's 0444")
        # A forged file with a queue-ID name, a stray file, and a symlink.
        victim = os.path.join(inst.root, "victim")
        with open(victim, "w") as f:
            f.write("secret\n")
        forged = os.path.join(inst.queue, "maildrop", "ABCDE1234")
        with open(forged, "wb") as f:
            f.write(b"C\0\0\0\x04junkjunk")
        os.chmod(forged, 0o744)  # as readable as a real postdrop file
        with open(os.path.join(inst.queue, "maildrop", "stray"), "w") as f:
            f.write("x")
        os.symlink(victim, os.path.join(inst.queue, "maildrop", "BCDEF99"))
        inst.start()
        qid = self.wait_message(inst, "offline@example.com")
        self.assertIn("erin@example.com", self.recipients(self.postcat(inst, qid)))
        inst.wait_log(r"warning: maildrop/BCDEF99: refusing a symbolic link", timeout=30)
        inst.wait_log(r"warning: maildrop/ABCDE1234: .*corrupt.*moved to corrupt/ABCDE1234", timeout=30)
        inst.wait_log(r"warning: maildrop/stray: .*removed", timeout=30)
        wait_for(lambda: self.queue_files(inst, "maildrop") == [], what="maildrop emptied")
        self.assertTrue(os.path.exists(os.path.join(inst.queue, "corrupt", "ABCDE1234")))
        with open(victim) as f:
            self.assertEqual(f.read(), "secret\n")

    def test_ignored_hangup_does_not_cancel_the_submission(self):
        """"nohup ... | sendmail": a hangup that the caller ignores reaches
        postdrop ignored, and the message is queued all the same (Postfix
        keeps an inherited "ignore" too); a keyboard interrupt cancels."""
        inst = self.make(start=False)
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        argv = [os.path.join(SBIN, "sendmail"), "-C", inst.dir, "-f", "nohup@example.com", "erin@example.com"]

        def run(ignore_hup, sig):
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=env, start_new_session=True,
                                 preexec_fn=(lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore_hup
                                 else None)
            p.stdin.write(b"Subject: hangup\n\nfirst half\n")
            p.stdin.flush()
            # postdrop is reading by now: the whole session gets the signal.
            wait_for(lambda: len(subprocess.run(["pgrep", "-s", str(p.pid), "postdrop"], capture_output=True,
                                                text=True).stdout.split()) > 0, 10, what="postdrop")
            time.sleep(0.2)
            os.killpg(p.pid, sig)
            try:
                p.stdin.write(b"second half\n")
                p.stdin.close()
            except BrokenPipeError:
                pass
            p.wait(timeout=30)
            return p

        p = run(True, signal.SIGHUP)
        self.assertEqual(p.returncode, 0, p.stderr.read())
        files = self.queue_files(inst, "maildrop")
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            self.assertIn(b"second half", f.read())
        os.unlink(files[0])
        p = run(True, signal.SIGINT)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.queue_files(inst, "maildrop"), [])

    def test_maildrop_file_size_is_bounded(self):
        # 4 x message_size_limit + 16 MiB: a sender that does not stop cannot
        # fill the queue file system; nothing is left behind.
        inst = self.make(start=False, main_cf_extra="message_size_limit = 1000\n")
        line = "x" * 999 + "\n"
        p = self.sendmail(inst, ["-f", "big@example.com", "erin@example.com"],
                          "Subject: big\n\n" + line * (17 * 1024))
        self.assertEqual(p.returncode, 65, p.stderr)  # EX_DATAERR
        self.assertIn("message file too large", p.stderr)
        self.assertEqual(self.queue_files(inst, "maildrop"), [])

    @unittest.skipUnless(is_root(), "needs root: pickup must run as another user than the file's owner")
    def test_file_still_being_written_is_skipped_quietly(self):
        # As postdrop leaves it until the ready mark: owner-only, no x bit.
        # pickup (mail_owner) cannot open it; it waits for it in silence.
        inst = self.make()
        busy = os.path.join(inst.queue, "maildrop", "CDEF01234")
        with open(busy, "wb") as f:
            f.write(b"C\0\0\0\x04junkjunk")
        os.chmod(busy, 0o600)
        # Two submissions one after the other: the second scan of maildrop
        # begins after the first, which met the file, has ended.
        for sender in ("beside1@example.com", "beside2@example.com"):
            p = self.sendmail(inst, ["-f", sender, "erin@example.com"], "Subject: beside\n\nx\n")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.wait_message(inst, sender)
        self.assertTrue(os.path.exists(busy))
        self.assertNotRegex(inst.maillog(), r"CDEF01234")
        os.unlink(busy)

    # --- as an unprivileged user, through a set-gid postdrop --------------
    @unittest.skipUnless(is_root(), "needs root to install a set-gid postdrop")
    def test_unprivileged_user_through_setgid_postdrop(self):
        nobody = pwd.getpwnam("nobody")
        cmd_dir = self.command_copy("sendmail", "postdrop")
        inst = self.make(start=False, main_cf_extra=f"command_directory = {cmd_dir}\n")
        with open(inst.path("main.cf")) as f:
            group = re.findall(r"(?m)^setgid_group = (\S+)", f.read())[-1]
        postdrop = os.path.join(cmd_dir, "postdrop")
        os.chown(postdrop, 0, grp.getgrnam(group).gr_gid)
        os.chmod(postdrop, 0o2755)
        # Without the set-gid bit nobody cannot write into maildrop at all.
        os.chmod(postdrop, 0o755)
        p = self.sendmail(inst, ["frank@example.com"], "Subject: x\n\ny\n", user=nobody, sbin=cmd_dir)
        self.assertEqual(p.returncode, 75, p.stderr)
        os.chmod(postdrop, 0o2755)
        p = self.sendmail(inst, ["-F", "No Body", "frank@example.com"], "Subject: nobody\n\nhello\n",
                          user=nobody, sbin=cmd_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        files = self.queue_files(inst, "maildrop")
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(files[0]).st_uid, nobody.pw_uid)
        # nobody cannot read the dropped file, nor list maildrop.
        p = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                            "--", "cat", files[0]], capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        # A configuration directory the user controls is refused by the set-gid postdrop.
        own = tempfile.mkdtemp(prefix="postern-own-", dir="/tmp")
        self.addCleanup(shutil.rmtree, own, True)
        shutil.copy(inst.path("main.cf"), os.path.join(own, "main.cf"))
        os.chown(own, nobody.pw_uid, nobody.pw_gid)
        os.chown(os.path.join(own, "main.cf"), nobody.pw_uid, nobody.pw_gid)
        p = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                            "--", postdrop, "-c", own], input=b"", capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 64, p.stderr)
        inst.start()
        # The file dropped while the master was down flows once it starts.
        inst.wait_log(r"pickup\[\d+\]: \w+: uid=\d+ from=<nobody>", timeout=30)
        # And with the master running, pickup logs the submitting user's uid.
        p = self.sendmail(inst, ["-f", "nobody-live@example.com", "frank@example.com"], "Subject: live\n\nhi\n",
                          user=nobody, sbin=cmd_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        qid = self.wait_message(inst, "nobody-live@example.com")
        self.assertRegex(inst.maillog(), qid + r": uid=" + str(nobody.pw_uid) + " from=<nobody-live@example.com>")
        text = self.postcat(inst, qid)
        self.assertIn("frank@example.com", self.recipients(text))
        # The sender address is the user's to choose; the uid is not.
        self.assertIn(f"(Postern, from userid {nobody.pw_uid})", text)

    @unittest.skipUnless(is_root(), "switching to another user needs root")
    def test_authorized_users_lists(self):
        nobody = pwd.getpwnam("nobody")
        cmd_dir = self.command_copy("sendmail", "postdrop", "postqueue")
        inst = self.make(main_cf_extra=f"command_directory = {cmd_dir}\n"
                                       "authorized_submit_users = !nobody, static:anyone\n"
                                       "authorized_mailq_users = root\n"
                                       "authorized_flush_users =\n")
        p = self.sendmail(inst, ["frank@example.com"], "Subject: x\n\ny\n", user=nobody, sbin=cmd_dir)
        self.assertEqual(p.returncode, 77, p.stderr)
        self.assertIn(f"User nobody({nobody.pw_uid}) is not allowed to submit mail", p.stderr)
        self.assertEqual(self.queue_files(inst, "maildrop"), [])
        # postdrop run directly refuses as well (it is the set-gid one).
        p = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                            "--", os.path.join(cmd_dir, "postdrop"), "-c", inst.dir], input=b"",
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 77, p.stderr)
        for args, what in ((["-p"], "view the mail queue"), (["-f"], "flush the mail queue")):
            p = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                                "--", os.path.join(cmd_dir, "postqueue"), "-c", inst.dir] + args,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 77, p.stderr)
            self.assertIn(f"User nobody({nobody.pw_uid}) is not allowed to {what}", p.stderr)
        # root always may.
        p = self.sendmail(inst, ["-f", "root-ok@example.com", "frank@example.com"], "Subject: ok\n\nhi\n",
                          sbin=cmd_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_message(inst, "root-ok@example.com")
        self.assertEqual(inst.cmd("postqueue", ["-p"]).returncode, 0)

if __name__ == "__main__":
    unittest.main()
