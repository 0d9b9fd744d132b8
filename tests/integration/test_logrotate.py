"""maillog_file rotation: `postern logrotate`, logrotate(8)-style renames, and
maillog_file_prefixes.

There is no postlogd: every process appends to maillog_file itself. The
checks are what an admin relies on: after a rotation the old file is
compressed, the new one receives the lines, and no line of mail that flowed
during the rotation is missing from the two together.
"""
import glob
import gzip
import os
import re
import smtplib
import subprocess
import threading
import time
import unittest

from harness import LIBEXEC, Instance, queue_master_cf, wait_for

MAIN_CF = f"""
daemon_directory = {LIBEXEC}
mydestination =
mynetworks = 127.0.0.0/8
default_transport = discard
relay_transport = discard
"""


def send(port, n, tag):
    for i in range(n):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("a@example.org", [f"{tag}{i}@example.net"],
                       f"Subject: {tag} {i}\r\n\r\nbody\r\n")


def removed_ids(text):
    return re.findall(r"\]: ([0-9A-Za-z]+): removed$", text, re.M)


class LogrotateTest(unittest.TestCase):
    def setUp(self):
        self.inst = Instance("logrot", main_cf_extra=MAIN_CF)
        self.addCleanup(self.inst.cleanup)
        self.inst.write_master_cf(queue_master_cf(self.inst.port, "discard unix - - n - - discard\n"))
        self.inst.start()

    def rotated(self):
        return glob.glob(self.inst.path("maillog.*"))

    def test_rotation_while_mail_flows_loses_no_line(self):
        inst = self.inst
        send(inst.port, 3, "before")
        wait_for(lambda: len(removed_ids(inst.maillog())) == 3, timeout=20, what="3 removed lines")
        sender = threading.Thread(target=send, args=(inst.port, 30, "during"))
        sender.start()
        time.sleep(0.3)
        p = inst.run(["logrotate"], check=False)
        sender.join()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        files = self.rotated()
        self.assertEqual(len(files), 1, files)
        # Compressed by maillog_file_compressor (gzip): only the .gz is left.
        self.assertTrue(re.search(r"/maillog\.\d{8}-\d{6}\.gz$", files[0]), files[0])
        with gzip.open(files[0], "rt", errors="replace") as f:
            old = f.read()
        self.assertEqual(len(removed_ids(old)), len(set(removed_ids(old))))
        self.assertGreaterEqual(len(removed_ids(old)), 3)
        send(inst.port, 2, "after")
        # Every message's "removed" line is in exactly one of the two files.
        wait_for(lambda: len(removed_ids(old)) + len(removed_ids(inst.maillog())) == 35, timeout=30,
                 what="35 removed lines in the old and new logs together")
        both = removed_ids(old) + removed_ids(inst.maillog())
        self.assertEqual(len(both), len(set(both)))
        new = inst.maillog()
        # The processes went over to the new file: intake and delivery log there.
        for who in ("postern/smtpd[", "postern/cleanup[", "postern/qmgr["):
            self.assertIn(who, new)
        # The reload that made the daemons let go of the old file, logged by
        # the master, is in one of the two.
        self.assertIn("reload", old + new)

    def test_a_reader_of_the_log_does_not_hold_up_compression(self):
        # An administrator's `tail -f` keeps the old file open; only the
        # master, its descendants and Postern's own programs are waited for.
        inst = self.inst
        send(inst.port, 1, "one")
        wait_for(lambda: len(removed_ids(inst.maillog())) == 1, timeout=20, what="removed line")
        tail = subprocess.Popen(["tail", "-f", inst.path("maillog")], stdout=subprocess.DEVNULL)
        self.addCleanup(tail.wait)
        self.addCleanup(tail.kill)
        start = time.monotonic()
        p = inst.run(["logrotate"], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertLess(time.monotonic() - start, 20)
        self.assertTrue(self.rotated()[0].endswith(".gz"), self.rotated())

    def test_a_renamed_file_is_followed_without_the_command(self):
        # logrotate(8) without copytruncate or a postrotate script: the
        # master (root) and every process that can open the new file go
        # over at their next line.
        inst = self.inst
        send(inst.port, 1, "one")
        wait_for(lambda: len(removed_ids(inst.maillog())) == 1, timeout=20, what="removed line")
        os.rename(inst.path("maillog"), inst.path("maillog.1"))
        time.sleep(1.1)  # a process looks at the path at most once a second
        inst.reload()
        wait_for(lambda: "reload" in inst.maillog(), timeout=10, what="the master's reload line in the new file")
        send(inst.port, 2, "two")
        wait_for(lambda: len(removed_ids(inst.maillog())) == 2, timeout=20, what="2 removed lines in the new file")

    def test_refusals(self):
        inst = self.inst
        with open(inst.path("main.cf"), "a") as f:
            f.write("maillog_file_rotate_suffix =\n")
        p = inst.run(["logrotate"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("empty 'maillog_file_rotate_suffix' parameter value - logfile rotation failed", p.stderr)
        with open(inst.path("main.cf"), "a") as f:
            f.write("maillog_file_rotate_suffix = x/y\n")
        p = inst.run(["logrotate"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("rotation failed", p.stderr)
        self.assertEqual(self.rotated(), [])
        with open(inst.path("main.cf"), "a") as f:
            f.write("maillog_file_rotate_suffix = fixed\nmaillog_file_compressor = true\n")
        self.assertEqual(inst.run(["logrotate"], check=False).returncode, 0)
        # A second rotation to the same name does not replace the first.
        p = inst.run(["logrotate"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("rename to", p.stderr)
        self.assertTrue(os.path.exists(inst.path("maillog.fixed")))


class PrefixTest(unittest.TestCase):
    def test_maillog_file_outside_the_prefixes_is_refused(self):
        inst = Instance("logpfx", main_cf_extra=f"daemon_directory = {LIBEXEC}\n")
        self.addCleanup(inst.cleanup)
        with open(inst.path("main.cf"), "a") as f:
            f.write("maillog_file_prefixes = /var\n")
        p = inst.run(["start"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not match any prefix in maillog_file_prefixes", p.stderr)


if __name__ == "__main__":
    unittest.main()
