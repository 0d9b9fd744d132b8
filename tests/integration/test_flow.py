"""in_flow_delay end to end: the master's flow pipe, qmgr's tokens, cleanup's
pause (src/lib/server/flow.h).

Without a running qmgr there are no tokens, so every message waits
in_flow_delay in cleanup (the SMTP client sees it at its first RCPT TO) and
is accepted all the same; with qmgr running, messages go through without a
pause; in_flow_delay = 0 turns the pause off. Only cleanup and qmgr hold the
pipe.
"""
import array
import fcntl
import os
import smtplib
import termios
import time
import unittest

from harness import LIBEXEC, Instance, free_port, wait_for
from test_end_to_end import smtp_up

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"


def master_cf(port, qmgr):
    return "".join([
        HEADER,
        f"127.0.0.1:{port} inet n - n - - smtpd -o mynetworks=127.0.0.0/8\n",
        "cleanup unix n - n - 0 cleanup\n",
        "rewrite unix - - n - - trivial-rewrite\n",
        "anvil unix - - n - 1 anvil\n",
        "qmgr unix n - n 300 1 qmgr\n" if qmgr else "",
    ])


class FlowTest(unittest.TestCase):
    def make(self, qmgr, delay):
        port = free_port()
        inst = Instance("flow", port=port, main_cf_extra=f"daemon_directory = {LIBEXEC}\n"
                        f"in_flow_delay = {delay}\n", master_cf=master_cf(port, qmgr))
        self.addCleanup(inst.cleanup)
        inst.start()
        wait_for(lambda: smtp_up(port), timeout=15, what="smtpd listening")
        return inst

    @staticmethod
    def running(inst, prog):
        return any(os.path.basename(argv[0]) == prog for argv in inst.processes().values())

    @staticmethod
    def tokens(inst):
        """Bytes in the flow pipe, through qmgr's read end (root may open
        another process's descriptors under /proc)."""
        qmgr = [pid for pid, argv in inst.processes().items() if os.path.basename(argv[0]) == "qmgr"]
        if not qmgr:
            return None
        fd = os.open(f"/proc/{qmgr[0]}/fd/5", os.O_RDONLY | os.O_NONBLOCK)
        try:
            buf = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, buf, True)
            return buf[0]
        finally:
            os.close(fd)

    def send(self, inst, n=1):
        """Seconds each message took, from MAIL FROM to the end of DATA."""
        took = []
        with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as c:
            c.ehlo("client.test")
            for i in range(n):
                t0 = time.monotonic()
                c.sendmail("s@client.test", ["r@remote.test"], f"Subject: {i}\r\n\r\nbody\r\n")
                took.append(time.monotonic() - t0)
        return took

    def test_no_qmgr_slows_intake_but_accepts(self):
        inst = self.make(qmgr=False, delay="2s")
        took = self.send(inst, 2)
        self.assertTrue(all(t >= 1.8 for t in took), took)
        self.assertTrue(all(t < 10 for t in took), took)
        incoming = [f for _, _, fs in os.walk(os.path.join(inst.queue, "incoming")) for f in fs]
        self.assertEqual(len(incoming), 2)

    def test_no_delay_when_turned_off(self):
        inst = self.make(qmgr=False, delay="0")
        took = self.send(inst, 2)
        self.assertTrue(all(t < 1.5 for t in took), took)

    def test_qmgr_keeps_tokens(self):
        inst = self.make(qmgr=True, delay="3s")
        wait_for(lambda: self.running(inst, "qmgr"), timeout=15, what="qmgr running")
        # qmgr's first scan fills the pipe with default_process_limit tokens.
        wait_for(lambda: self.tokens(inst) == 100, timeout=15, what="100 flow tokens")
        took = self.send(inst, 5)
        self.assertTrue(all(t < 2 for t in took), took)

    def test_only_cleanup_and_qmgr_hold_the_pipe(self):
        inst = self.make(qmgr=True, delay="1s")
        wait_for(lambda: self.running(inst, "qmgr"), timeout=15, what="qmgr running")
        self.send(inst, 1)  # starts smtpd, cleanup and trivial-rewrite

        def pipes(pid):
            out = {}
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    pass
            return out

        by_prog = {}
        for pid, argv in inst.processes().items():
            by_prog.setdefault(os.path.basename(argv[0]), []).append(pid)
        qmgr = pipes(by_prog["qmgr"][0])
        flow = qmgr[5]
        self.assertTrue(flow.startswith("pipe:"), qmgr)
        self.assertEqual(qmgr[6], flow)
        self.assertEqual(pipes(by_prog["cleanup"][0])[5], flow)
        self.assertIn("smtpd", by_prog)  # the check below must look at something
        for prog in ("smtpd", "trivial-rewrite", "anvil"):  # (the master made the pipe)
            for pid in by_prog.get(prog, []):
                links = pipes(pid)
                self.assertNotIn(flow, links.values(), f"{prog} holds the flow pipe: {links}")


if __name__ == "__main__":
    unittest.main()
