"""Durability under faults: kill -9 the daemons at random moments during a load.

A few thousand messages go in over SMTP from several client threads while a
killer thread SIGKILLs smtpd, cleanup, qmgr, smtp and local processes at
random; the clients go on past FAULTS_MESSAGES until the killer has made
MIN_KILLS kills (a fast machine sends them all in under two seconds). The master restarts what it needs. Afterwards:
  - every message that got a 250 is delivered (at the sink or in the local
    Maildir); duplicates are allowed, loss is not;
  - nothing delivered is half-written: every delivered copy ends with its
    end marker, whether or not the client saw the 250.
FAULTS_MESSAGES sets the load (default 2000).
"""
import os
import pwd
import random
import re
import shutil
import signal
import smtplib
import subprocess
import threading
import time
import unittest
import uuid

from harness import LIBEXEC, Instance, free_port, wait_for
from sink import Sink
from test_end_to_end import HOST, main_cf_for, master_cf, queue_files, smtp_up

USER = "pstrnflt"
MESSAGES = int(os.environ.get("FAULTS_MESSAGES", "2000"))
CLIENTS = 8
VICTIMS = ["smtpd", "cleanup", "qmgr", "smtp", "local"]
# The master throttles a service after five abnormal exits in ten seconds;
# one kill per service every 2.5 s at most stays below that.
MIN_GAP = 2.5
# Kills the load lasts for at least (it goes on past MESSAGES until then).
MIN_KILLS = 5
BODY_LINES = 40


class Faults(unittest.TestCase):
    def setUp(self):
        self.sink = Sink()
        self.user = None
        if os.geteuid() == 0:
            subprocess.run(["userdel", "-r", USER], capture_output=True)
            subprocess.run(["useradd", "-m", "-d", f"/tmp/{USER}-home", USER], check=True)
            self.user = pwd.getpwnam(USER)
        main_cf = main_cf_for(self.sink.port)
        self.port = free_port()
        self.inst = Instance("faults", main_cf_extra=main_cf, master_cf=master_cf(self.port))
        self.inst.start()
        wait_for(lambda: smtp_up(self.port), timeout=15, what="smtpd listening")

    def tearDown(self):
        try:
            if os.environ.get("FAULTS_KEEP_LOG"):
                shutil.copy(self.inst.path("maillog"), os.environ["FAULTS_KEEP_LOG"])
            self.inst.cleanup()
        finally:
            self.sink.stop()
            if self.user is not None:
                subprocess.run(["userdel", "-r", USER], capture_output=True)
                shutil.rmtree(f"/tmp/{USER}-home", ignore_errors=True)

    def _client(self, n, acked, lock, enough, deadline):
        """n messages, then more until the killer has done its part (or the
        deadline): on a fast machine n messages take less time than five
        kills at the killer's pace."""
        local = self.user is not None
        i = 0
        while i < n or (not enough.is_set() and time.monotonic() < deadline):
            i += 1
            token = uuid.uuid4().hex
            rcpt = f"{USER}@{HOST}" if local and i % 4 == 0 else f"u{i}@remote.test"
            body = "".join(f"line {j} of {token}\r\n" for j in range(BODY_LINES))
            msg = f"From: <s@sender.test>\r\nTo: <{rcpt}>\r\nSubject: {token}\r\n\r\n{body}END-{token}\r\n"
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                    s.sendmail("s@sender.test", [rcpt], msg)
                with lock:
                    acked.add(token)
            except (smtplib.SMTPException, OSError):
                time.sleep(0.05)  # no 250: this one may or may not arrive, but never half

    def _killer(self, stop, kills, enough):
        last = {v: 0.0 for v in VICTIMS}
        while not stop.is_set():
            time.sleep(random.uniform(0.2, 0.6))
            now = time.time()
            ready = [v for v in VICTIMS if now - last[v] >= MIN_GAP]
            if not ready:
                continue
            victim = random.choice(ready)
            # By program, not by service name: smtpd's service is "127.0.0.1:port".
            pids = sorted(pid for pid, argv in self.inst.processes().items()
                          if os.path.basename(argv[0]) == victim)
            if not pids:
                continue
            try:
                os.kill(random.choice(pids), signal.SIGKILL)
                last[victim] = now
                kills[victim] = kills.get(victim, 0) + 1
                if sum(kills.values()) >= MIN_KILLS:
                    enough.set()
            except OSError:
                pass

    def _delivered(self):
        """token -> list of delivered copies (bytes)."""
        copies = {}
        rx = re.compile(rb"Subject: ([0-9a-f]{32})")
        for _, _, data in list(self.sink.messages):
            m = rx.search(data)
            if m:
                copies.setdefault(m.group(1).decode(), []).append(data)
        if self.user is not None:
            for sub in ("new", "cur"):
                d = os.path.join(self.user.pw_dir, "Maildir", sub)
                if not os.path.isdir(d):
                    continue
                for f in os.listdir(d):
                    with open(os.path.join(d, f), "rb") as fh:
                        data = fh.read()
                    m = rx.search(data)
                    if m:
                        copies.setdefault(m.group(1).decode(), []).append(data)
        return copies

    def test_kill9_under_load(self):
        acked, lock = set(), threading.Lock()
        stop, enough, kills = threading.Event(), threading.Event(), {}
        killer = threading.Thread(target=self._killer, args=(stop, kills, enough))
        killer.start()
        deadline = time.monotonic() + 60
        clients = [threading.Thread(target=self._client,
                                    args=(MESSAGES // CLIENTS, acked, lock, enough, deadline))
                   for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        stop.set()
        killer.join()
        self.assertGreater(len(acked), MESSAGES // 2, f"too few messages accepted: kills {kills}")
        self.assertTrue(sum(kills.values()) >= MIN_KILLS, f"the killer barely ran: {kills}")

        # Recovery: everything acknowledged arrives (the master restarts the
        # daemons; deferred mail is retried every second).
        def all_in():
            copies = self._delivered()
            missing = [t for t in acked if t not in copies]
            return not missing
        try:
            wait_for(all_in, timeout=240, interval=0.5, what="every acknowledged message delivered")
        except AssertionError:
            copies = self._delivered()
            missing = [t for t in acked if t not in copies]
            left = queue_files(self.inst, "incoming", "active", "deferred", "hold", "corrupt")
            self.fail(f"{len(missing)} of {len(acked)} acknowledged messages lost; kills {kills}; "
                      f"{len(left)} files still queued; first missing {missing[:3]}")
        copies = self._delivered()
        for token, datas in copies.items():
            for data in datas:
                self.assertIn(f"END-{token}".encode(), data, f"half-written delivery of {token}")
                self.assertIn(f"line {BODY_LINES - 1} of {token}".encode(), data)
        self.assertFalse(queue_files(self.inst, "corrupt"), "a queue file was declared corrupt")
        print(f"faults: {len(acked)} acknowledged (at least {MESSAGES} sent), {len(copies)} delivered, kills {kills}, "
              f"duplicates {sum(len(v) - 1 for v in copies.values())}")


if __name__ == "__main__":
    unittest.main()
