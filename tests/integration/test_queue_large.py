"""A queue of 100,000 messages: postqueue -p lists them all, and qmgr stays small;
one message with 100,000 recipients: qmgr and postsuper -r read them in slices.

The messages are written straight into deferred/ (queuegen.py, the
documented file format) with their next-retry time (mtime) an hour ahead,
as qmgr leaves them after a failed attempt. With the real master, showq and
qmgr running:
  - `postqueue -p` through showq lists every message (the footer counts
    them, every ID appears once);
  - a deferred-queue scan (trigger D) makes qmgr walk all 100,000 files
    without loading them: its peak memory (VmHWM) stays bounded;
  - both times are printed (measured, never asserted: see bench/).
QUEUE_LARGE_MESSAGES sets the count (default 100000).
"""
import os
import re
import socket
import subprocess
import sys
import time
import unittest

import queuegen
from harness import LIBEXEC, Instance, wait_for
from test_postqueue import mail_owner

COUNT = int(os.environ.get("QUEUE_LARGE_MESSAGES", "100000"))
HEADER = "# service type private unpriv chroot wakeup maxproc command\n"


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class LargeQueue(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        owner = mail_owner()
        cls.inst = Instance("large", main_cf_extra=f"daemon_directory = {LIBEXEC}\nqueue_run_delay = 3600s\n",
                            master_cf=HEADER + "showq unix n - n - - showq\n"
                                               "qmgr unix n - n 300 1 qmgr\n")
        q = cls.inst.queue
        later = time.time() + 3600
        t0 = time.time()
        cls.ids = set()
        for i in range(COUNT):
            qid = queuegen.write_message(q, "deferred", f"s{i % 97}@sender.test", [f"r{i}@remote.test"],
                                         uid=owner.pw_uid if os.geteuid() == 0 else None,
                                         gid=owner.pw_gid if os.geteuid() == 0 else None)
            cls.ids.add(qid)
            os.utime(os.path.join(q, queuegen.queue_subdir("deferred", qid), qid), (later, later))
        print(f"\nqueue_large: wrote {COUNT} messages in {time.time() - t0:.1f}s")
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    def test_postqueue_lists_everything(self):
        t0 = time.time()
        p = self.inst.cmd("postqueue", ["-p"], timeout=600)
        took = time.time() - t0
        print(f"queue_large: postqueue -p of {COUNT} messages: {took:.1f}s")
        self.assertRegex(p.stdout.splitlines()[-1], rf"^-- \d+ Kbytes in {COUNT} Requests\.$")
        listed = re.findall(r"^([0-9A-F]{6,})\s", p.stdout, re.M)
        self.assertEqual(len(listed), COUNT)
        self.assertEqual(set(listed), self.ids)

    def test_qmgr_memory_stays_bounded(self):
        pids = self.inst.service_pids("qmgr")
        if not pids:
            wait_for(lambda: self.inst.service_pids("qmgr"), timeout=15, what="qmgr")
            pids = self.inst.service_pids("qmgr")
        pid = next(iter(pids))
        ipc_path = os.path.join(self.inst.queue, "public", "qmgr")
        def cpu():
            with open(f"/proc/{pid}/stat") as f:
                v = f.read().split(")")[-1].split()
            return int(v[11]) + int(v[12])
        before = cpu()
        t0 = time.time()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(ipc_path)
        s.sendall(b"D")
        s.close()
        # The scan is done when qmgr is idle again: its CPU time stops growing.
        last = -1
        while True:
            time.sleep(1.0)
            now = cpu()
            if now == last:
                break
            last = now
            self.assertLess(time.time() - t0, 600, "qmgr still busy after 10 minutes")
        hwm = vm_kib(pid, "VmHWM")
        print(f"queue_large: qmgr deferred scan over {COUNT} messages: ~{time.time() - t0 - 1:.1f}s, "
              f"peak RSS {hwm / 1024:.1f} MiB")
        self.assertTrue(os.path.isdir(f"/proc/{pid}"), "qmgr died during the scan")
        self.assertGreater(last, before, "qmgr did not scan the deferred queue")
        # Not loaded: nothing moved to active, and far less memory than the
        # queue (100,000 envelopes would be well over 100 MiB).
        self.assertEqual(queuegen.ids(self.inst.queue, "active"), [])
        self.assertLess(hwm, 64 * 1024, f"qmgr peak RSS {hwm} KiB")


RCPTS = int(os.environ.get("QUEUE_LARGE_RECIPIENTS", "100000"))


class LongRecipientList(unittest.TestCase):
    """One message with 100,000 recipients (QUEUE_LARGE_RECIPIENTS), delivered
    by discard(8): qmgr reads its recipients in slices, so its peak memory
    stays far below what the whole list would take."""

    def run_list(self, extra=""):
        owner = mail_owner()
        inst = Instance("longlist", main_cf_extra=f"daemon_directory = {LIBEXEC}\nqueue_run_delay = 3600s\n"
                                                  "default_transport = discard\n" + extra,
                        master_cf=HEADER + "qmgr unix n - n 300 1 qmgr\n"
                                           "rewrite unix - - n - - trivial-rewrite\n"
                                           "discard unix - - n - - discard\n")
        self.addCleanup(inst.cleanup)
        rcpts = [f"r{i}@remote.test" for i in range(RCPTS)]
        qid = queuegen.write_message(inst.queue, "incoming", "list@sender.test", rcpts,
                                     uid=owner.pw_uid if os.geteuid() == 0 else None,
                                     gid=owner.pw_gid if os.geteuid() == 0 else None)
        t0 = time.time()
        inst.start()
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=600)
        took = time.time() - t0
        pid = next(iter(inst.service_pids("qmgr")))
        hwm = vm_kib(pid, "VmHWM")
        log = inst.maillog()
        sent = len(re.findall(rf"postern/discard\[\d+\]: {qid}: to=<r\d+@remote\.test>.*status=sent", log))
        return took, hwm, sent

    def test_qmgr_memory_does_not_grow_with_the_list(self):
        took, hwm, sent = self.run_list()
        print(f"\nqueue_large: {RCPTS} recipients of one message through discard: {took:.1f}s, "
              f"qmgr peak RSS {hwm / 1024:.1f} MiB")
        self.assertEqual(sent, RCPTS)
        # Measured: 8.6 MiB in slices; 39.5 MiB with the whole list in one
        # (qmgr_message_recipient_minimum = 1000000), as before slices.
        self.assertLess(hwm, 24 * 1024, f"qmgr peak RSS {hwm} KiB")

    def test_postsuper_requeue_reads_the_list_in_slices(self):
        # postsuper -r resubmits the pending recipients through cleanup a
        # slice at a time: all of them arrive, its memory stays small.
        owner = mail_owner()
        inst = Instance("longrq", main_cf_extra=f"daemon_directory = {LIBEXEC}\n",
                        master_cf=HEADER + "cleanup unix n - n - 0 cleanup\n"
                                           "rewrite unix - - n - - trivial-rewrite\n")
        self.addCleanup(inst.cleanup)
        rcpts = [f"r{i}@remote.test" for i in range(RCPTS)]
        done = range(0, RCPTS, 10)  # delivered already: not requeued
        qid = queuegen.write_message(inst.queue, "hold", "list@sender.test", rcpts, done=done,
                                     uid=owner.pw_uid if os.geteuid() == 0 else None,
                                     gid=owner.pw_gid if os.geteuid() == 0 else None)
        inst.start()
        # A fresh Python as the parent, so that RUSAGE_CHILDREN is postsuper's alone.
        measure = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
                   "print('maxrss=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
                   "sys.exit(r.returncode)")
        argv = [sys.executable, "-c", measure, os.path.join(inst.sbin, "postsuper"), "-c", inst.dir, "-r", qid]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.search(r"postsuper: (\w+): requeued as (\w+)", p.stderr)
        self.assertTrue(m, p.stderr)
        new = queuegen.find(inst.queue, "incoming", m.group(2))
        self.assertTrue(new)
        env = subprocess.run([os.path.join(inst.sbin, "postcat"), "-e", new], capture_output=True,
                             text=True, timeout=300)
        got = re.findall(r"^recipient: (r\d+)@remote\.test$", env.stdout, re.M)
        self.assertEqual(len(got), RCPTS - len(done))
        self.assertEqual(set(got), {f"r{i}" for i in range(RCPTS) if i % 10})
        self.assertIsNone(queuegen.find(inst.queue, "hold", qid))
        rss = int(re.search(r"maxrss=(\d+)", p.stderr).group(1))
        print(f"\nqueue_large: postsuper -r of {RCPTS} recipients: peak RSS {rss / 1024:.1f} MiB")
        # Measured: 13.5 MiB in slices, 22.5 MiB with the whole list read
        # at once (as before December 8); a postsuper with one recipient
        # peaks at about 13 MiB.
        self.assertLess(rss, 17 * 1024)


if __name__ == "__main__":
    unittest.main()
