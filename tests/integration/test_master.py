"""The master and the server skeleton, end to end, with the test daemon.

Each test starts a real master on a scratch instance whose master.cf runs
`testd` (tests/daemons/testd.cpp, built on the real skeleton) and checks
what a user would see: processes, replies, log lines.
"""
import os
import signal
import socket
import threading
import time
import unittest

from harness import Instance, LineClient, free_port, is_root, pid_alive, port_open, uid_of, wait_for

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"


class MasterTest(unittest.TestCase):
    def make(self, services, main_cf_extra="service_throttle_time = 3s\n"):
        inst = Instance("master", main_cf_extra=main_cf_extra)
        self.addCleanup(inst.cleanup)
        self.events = os.path.join(inst.root, "events")
        os.makedirs(self.events, exist_ok=True)
        os.chmod(self.events, 0o777)  # testd may run as mail_owner
        inst.write_master_cf(HEADER + services.format(port=inst.port, events=self.events))
        inst.start()
        self.inst = inst
        return inst

    def events_of(self, name):
        try:
            with open(os.path.join(self.events, name)) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def client_and_pid(self, inst):
        """A new client of the instance's testd, and the pid serving it."""
        c = LineClient(("127.0.0.1", inst.port))
        return c, int(c.ask("PID"))

    def test_spawn_on_demand_and_privileges(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n")
        inst.wait_log(r"daemon started -- version")
        self.assertEqual(inst.service_pids(f"127.0.0.1:{inst.port}"), set())
        c = LineClient(("127.0.0.1", inst.port))
        pid = int(c.ask("PID"))
        self.assertEqual(c.ask("hello"), "hello")
        c.close()
        self.assertIn(pid, inst.service_pids(f"127.0.0.1:{inst.port}"))
        master = inst.master_pid()
        if is_root():
            self.assertEqual(uid_of(master), 0)
            self.assertNotEqual(uid_of(pid), 0, "daemon kept root")
        else:
            self.assertEqual(uid_of(pid), os.getuid())
            self.assertRegex(inst.maillog(), r"privileges are not separated")
        # Postfix's log line shape.
        self.assertRegex(inst.maillog(), r"(?m)^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ postern/master\[\d+\]: daemon started")

    def test_master_service_disable(self):
        # Postfix's match list: the first pattern that matches decides.
        other = free_port()
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n"
                         f"127.0.0.1:{other} inet n - n - 2 testd\n",
                         main_cf_extra=f"master_service_disable = !127.0.0.1:{other}/inet, inet\n")
        inst.wait_log(r"daemon started -- version")
        c = LineClient(("127.0.0.1", other))
        self.assertEqual(c.ask("hello"), "hello")
        c.close()
        self.assertFalse(port_open(inst.port))
        # A reload with the list emptied starts the other one too.
        with open(inst.path("main.cf"), "a") as f:
            f.write("master_service_disable =\n")
        inst.reload()
        inst.wait_log(r"reload -- version")
        wait_for(lambda: port_open(inst.port), timeout=20, what="the service enabled by reload")

    def test_maxproc_bounds_processes(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n")
        results, lock = [], threading.Lock()

        def client(i):
            c = LineClient(("127.0.0.1", inst.port), timeout=20)
            pid = int(c.ask("PID"))
            c.ask("SLEEP 10")
            with lock:
                results.append((pid, time.time()))
            c.close()

        start = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.1)
        peak = 0
        while any(t.is_alive() for t in threads):
            peak = max(peak, len(inst.service_pids(f"127.0.0.1:{inst.port}")))
            time.sleep(0.05)
        for t in threads:
            t.join()
        self.assertEqual(len(results), 3)
        self.assertLessEqual(peak, 2)
        self.assertEqual(len({p for p, _ in results}), 2, "three clients, two processes")
        # The third client had to wait for a process to become free.
        self.assertGreater(max(t for _, t in results) - start, 1.9)
        inst.wait_log(r"has reached its process limit \"2\"")

    def test_max_use_retires_process(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 1 testd -o max_use=2\n")
        pids = []
        for _ in range(3):
            c = LineClient(("127.0.0.1", inst.port))
            pids.append(int(c.ask("PID")))
            c.close()
            time.sleep(0.2)
        self.assertEqual(pids[0], pids[1])
        self.assertNotEqual(pids[1], pids[2])
        wait_for(lambda: not pid_alive(pids[0]), what="retired process to exit")

    def test_replacement_starts_while_retiring_process_serves_last_client(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd -o max_use=2\n")
        svc = f"127.0.0.1:{inst.port}"
        first, old = self.client_and_pid(inst)
        first.close()
        time.sleep(0.5)  # until the process has seen the close and is available again
        last, pid = self.client_and_pid(inst)
        self.assertEqual(pid, old)
        # The old process serves its last client; its replacement is already
        # there, before any client asks for it.
        wait_for(lambda: len(inst.service_pids(svc) - {old}) == 1, what="replacement process")
        (new,) = inst.service_pids(svc) - {old}
        self.assertTrue(pid_alive(old))
        nxt, pid = self.client_and_pid(inst)
        self.assertEqual(pid, new)
        last.close()
        nxt.close()
        wait_for(lambda: not pid_alive(old), what="retired process to exit")
        self.assertEqual(inst.service_pids(svc), {new})

    def test_no_replacement_beyond_maxproc(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 1 testd -o max_use=1\n")
        svc = f"127.0.0.1:{inst.port}"
        c, old = self.client_and_pid(inst)
        time.sleep(0.5)
        self.assertEqual(inst.service_pids(svc), {old}, "maxproc 1: the retiring process still counts")
        c.close()
        c, pid = self.client_and_pid(inst)
        self.assertNotEqual(pid, old)
        c.close()

    def test_long_lived_service_keeps_one_process(self):
        # A long-lived server (qmgr) reports only its first use to the
        # master, which therefore never starts a second one beside it.
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd lifetime=long -o max_use=1\n")
        svc = f"127.0.0.1:{inst.port}"
        c, pid = self.client_and_pid(inst)
        c.close()
        # Its first client is reported (busy, then available once it has
        # seen the close); a client arriving before that finds no available
        # process and rightly gets a second one.
        time.sleep(0.5)
        busy, again = self.client_and_pid(inst)
        self.assertEqual(again, pid, "max_use does not retire it")
        waiting = LineClient(("127.0.0.1", inst.port))
        time.sleep(0.5)
        self.assertEqual(inst.service_pids(svc), {pid})
        busy.close()
        self.assertEqual(int(waiting.ask("PID")), pid)
        waiting.close()

    def policies(self, inst):
        """(daemon, master) scheduling policies, while a client is served."""
        c, pid = self.client_and_pid(inst)
        try:
            return os.sched_getscheduler(pid), os.sched_getscheduler(inst.master_pid())
        finally:
            c.close()

    def test_master_and_daemons_use_batch_scheduling(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n")
        self.assertEqual(self.policies(inst), (os.SCHED_BATCH, os.SCHED_BATCH))

    def test_batch_scheduling_can_be_turned_off(self):
        # Per service: the daemon undoes the policy it inherited.
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd -o daemon_batch_scheduling=no\n")
        self.assertEqual(self.policies(inst), (os.SCHED_OTHER, os.SCHED_BATCH))
        # For the whole instance.
        off = self.make("127.0.0.1:{port} inet n - n - 2 testd\n",
                        main_cf_extra="service_throttle_time = 3s\ndaemon_batch_scheduling = no\n")
        self.assertEqual(self.policies(off), (os.SCHED_OTHER, os.SCHED_OTHER))

    def served_then_retired_idle(self, inst):
        """The pid of a process that served one client and then exited
        cleanly for being idle."""
        c = LineClient(("127.0.0.1", inst.port))
        pid = int(c.ask("PID"))
        c.close()
        wait_for(lambda: not pid_alive(pid), timeout=5, what="idle process to exit")
        self.assertNotRegex(inst.maillog(), r"warning: process .* pid %d" % pid)
        return pid

    def test_max_idle_retires_process(self):
        self.served_then_retired_idle(self.make("127.0.0.1:{port} inet n - n - 1 testd -o max_idle=1s\n"))

    def test_daemon_options_in_getopt_forms(self):
        # Postfix's daemons read their options with getopt(): clustered
        # flags and a value joined to its option work in master.cf too.
        inst = self.make("127.0.0.1:{port} inet n - n - 1 testd -vv -omax_idle=1s\n")
        pid = self.served_then_retired_idle(inst)
        self.assertRegex(inst.maillog(), r"testd\[%d\]: stopping: idle" % pid)  # -v's debug line

    def test_multi_model_serves_clients_in_one_process(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd model=multi\n")
        clients = [LineClient(("127.0.0.1", inst.port)) for _ in range(3)]
        pids = [int(c.ask("PID")) for c in clients]
        self.assertEqual(len(set(pids)), 1, "client_limit 3: one process")
        c4 = LineClient(("127.0.0.1", inst.port))
        self.assertNotEqual(int(c4.ask("PID")), pids[0], "fourth client needs a second process")
        for c in clients + [c4]:
            c.close()

    def test_master_sleeps_while_an_available_child_accepts(self):
        # The master watches a listener only while no child could take a
        # new client; otherwise every connection woke it for nothing. The
        # client limit is high enough that the child never reports itself
        # full, even if it notices a close only after the next connect.
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd model=multi clients=100\n")
        keep = LineClient(("127.0.0.1", inst.port))
        pid = int(keep.ask("PID"))
        master = inst.master_pid()

        def wakeups():
            with open(f"/proc/{master}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        return int(line.split()[1])
            raise AssertionError("no voluntary_ctxt_switches")

        before = wakeups()
        for _ in range(40):
            c = LineClient(("127.0.0.1", inst.port))
            self.assertEqual(int(c.ask("PID")), pid)
            c.close()
        woke = wakeups() - before
        self.assertLess(woke, 10, f"master woke {woke} times for 40 clients of a running child")
        keep.close()

    def test_kill_9_child_is_replaced(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 1 testd\n")
        c = LineClient(("127.0.0.1", inst.port))
        pid = int(c.ask("PID"))
        os.kill(pid, signal.SIGKILL)
        inst.wait_log(r"warning: process \S+testd pid %d killed by signal 9" % pid)
        c2 = LineClient(("127.0.0.1", inst.port))
        pid2 = int(c2.ask("PID"))
        self.assertNotEqual(pid, pid2)
        c2.close()
        self.assertNotRegex(inst.maillog(), r"throttling")

    def test_crashing_service_is_throttled(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 5 testd startup=fail log={events}/bad\n",
                         main_cf_extra="service_throttle_time = 4s\n")
        # Clients wait in the listen queue while the service keeps failing.
        waiting = [socket.create_connection(("127.0.0.1", inst.port), timeout=1) for _ in range(3)]
        self.addCleanup(lambda: [w.close() for w in waiting])
        inst.wait_log(r"testd: bad command startup -- throttling")
        starts = len(self.events_of("bad"))
        self.assertGreaterEqual(starts, 1)
        time.sleep(2)
        self.assertEqual(len(self.events_of("bad")), starts, "throttled service must not respawn in a loop")
        # After service_throttle_time it is tried again.
        wait_for(lambda: len(self.events_of("bad")) > starts, timeout=10, what="retry after throttle")

    def test_wakeup_triggers_service(self):
        inst = self.make("trig unix n - n 1 1 testd model=trigger log={events}/trig\n")
        wait_for(lambda: len([l for l in self.events_of("trig") if l.startswith("trigger")]) >= 3, timeout=8,
                 what="three wakeups")
        triggers = [l for l in self.events_of("trig") if l.startswith("trigger")]
        self.assertTrue(all(l.endswith(" W") for l in triggers), triggers)
        self.assertEqual(len({l.split()[1] for l in triggers}), 1, "one long-running trigger process")

    def test_killed_wakeup_service_comes_back_soon(self):
        """A wakeup service that dies abnormally gets its next trigger after a
        second, not after its whole wakeup period."""
        inst = self.make("trig unix n - n 300 1 testd model=trigger log={events}/trig\n")

        def trigger_pids():
            return [l.split()[1] for l in self.events_of("trig") if l.startswith("trigger")]

        first = wait_for(lambda: trigger_pids(), timeout=8, what="the first wakeup")[0]
        os.kill(int(first), signal.SIGKILL)
        inst.wait_log(r"warning: process \S+testd pid %s killed by signal 9" % first)
        wait_for(lambda: any(p != first for p in trigger_pids()), timeout=8, what="a new process woken early")

    def test_unix_service_and_reload(self):
        port2 = free_port()
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n"
                         "echo unix - - n - 2 testd\n")
        sock = os.path.join(inst.queue, "private", "echo")
        c = LineClient(sock)
        old_pid = int(c.ask("PID"))
        c.close()
        # Hammer the unchanged listener while the configuration changes.
        stop, failures, successes = threading.Event(), [], [0]

        def hammer():
            while not stop.is_set():
                try:
                    cl = LineClient(("127.0.0.1", inst.port), timeout=10)
                    cl.ask("x")
                    cl.close()
                    successes[0] += 1
                except OSError as e:
                    failures.append(repr(e))

        t = threading.Thread(target=hammer)
        t.start()
        inst.write_master_cf(HEADER + f"127.0.0.1:{inst.port} inet n - n - 2 testd\n"
                             f"127.0.0.1:{port2} inet n - n - 1 testd\n")
        inst.reload()
        inst.wait_log(r"reload -- version")
        c2 = LineClient(("127.0.0.1", port2))
        self.assertEqual(c2.ask("new"), "new")
        c2.close()
        time.sleep(0.5)
        stop.set()
        t.join()
        self.assertEqual(failures, [])
        self.assertGreater(successes[0], 5)
        # The removed unix service no longer answers; its old child retired.
        with self.assertRaises(OSError):
            LineClient(sock, timeout=2).ask("PID")
        wait_for(lambda: not pid_alive(old_pid), what="old child to retire")

    def test_reload_closes_removed_services_and_lets_sessions_finish(self):
        port2 = free_port()
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n"
                         f"127.0.0.1:{port2} inet n - n - 2 testd\n")
        c = LineClient(("127.0.0.1", inst.port))
        pid = int(c.ask("PID"))
        c2 = LineClient(("127.0.0.1", port2))
        pid2 = int(c2.ask("PID"))
        inst.write_master_cf(HEADER + f"127.0.0.1:{inst.port} inet n - n - 2 testd\n")
        inst.reload()
        inst.wait_log(r"reload -- version")
        # The removed service's port refuses connections at once (its
        # listener is closed, not left bound and unserved), and its
        # process is terminated.
        wait_for(lambda: not port_open(port2), timeout=10, what="the removed service's port closed")
        wait_for(lambda: not pid_alive(pid2), timeout=40, what="the removed service's process gone")
        # A session of a kept service that began before the reload goes on
        # (Postfix: old processes end "as soon as is convenient").
        time.sleep(1)
        self.assertEqual(c.ask("still"), "still")
        self.assertTrue(pid_alive(pid))
        c.close()
        c2.close()
        wait_for(lambda: not pid_alive(pid), timeout=20, what="the old process to exit after its client")

    def test_postfix_master_cf_habits_are_accepted(self):
        # Debian's stock postlog line, a service defined twice (the last
        # entry counts) and text continued from nothing: warnings, as with
        # Postfix, not a master that refuses to start.
        inst = self.make("  stray continuation\n"
                         "127.0.0.1:{port} inet n - n - 1 testd\n"
                         "postlog unix-dgram n - n - 1 postlogd\n"
                         "127.0.0.1:{port} inet n - n - 2 testd\n")
        inst.wait_log(r"service \"postlog/unix-dgram\": Postern's daemons write maillog_file themselves; postlogd "
                      r"is not needed -- ignoring this service")
        inst.wait_log(r"duplicate master\.cf entry for service \"127\.0\.0\.1:\d+/inet\" -- using the last entry")
        inst.wait_log(r"logical line must not start with whitespace -- ignoring this text")
        c = LineClient(("127.0.0.1", inst.port))
        self.assertEqual(c.ask("hello"), "hello")
        c.close()

    def test_bad_reload_keeps_old_configuration(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n")
        inst.write_master_cf(HEADER + "broken line\n")
        p = inst.run(["reload"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("master.cf, line 2", p.stderr)
        # Send SIGHUP directly, past postern's own check: the master must survive.
        os.kill(inst.master_pid(), signal.SIGHUP)
        inst.wait_log(r"error: reload: .*master.cf, line 2.*keeping the old configuration")
        c = LineClient(("127.0.0.1", inst.port))
        self.assertEqual(c.ask("still"), "still")
        c.close()

    def test_stop_leaves_no_process(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n"
                         "trig unix n - n 1 1 testd model=trigger\n")
        clients = [LineClient(("127.0.0.1", inst.port)) for _ in range(2)]
        for c in clients:
            c.ask("PID")
        wait_for(lambda: len(inst.processes()) >= 4, what="master and three children")
        master = inst.master_pid()
        inst.stop()
        self.assertFalse(pid_alive(master))
        wait_for(lambda: not inst.processes(), timeout=10, what="no process left")
        self.assertNotEqual(inst.run(["status"], check=False).returncode, 0)
        for c in clients:
            c.close()

    def test_abort_returns_at_once_and_the_master_stops_everything(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n")
        c = LineClient(("127.0.0.1", inst.port))
        c.ask("PID")
        p = inst.run(["abort"], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("aborting the Postern mail system", p.stdout)
        wait_for(lambda: not inst.processes(), timeout=10, what="no process left")
        p = inst.run(["abort"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not running", p.stderr)
        c.close()

    def test_watchdog_ends_a_request_that_takes_too_long(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd -o daemon_timeout=2s\n")
        c, pid = self.client_and_pid(inst)
        # Within the time, and waits the watchdog does not watch (a session
        # between commands), are left alone.
        self.assertEqual(c.ask("WATCHED 5"), "OK")
        self.assertEqual(c.ask("SLEEP 35"), "OK")
        self.assertTrue(pid_alive(pid))
        c.s.sendall(b"WATCHED 100\n")
        inst.wait_log(rf"testd\[{pid}\]: fatal: watchdog timeout: one request took longer than 2s "
                      r"\(daemon_timeout\)", timeout=10)
        wait_for(lambda: not pid_alive(pid), timeout=5, what="the process gone")
        c.close()

    def test_watchdog_kills_a_process_whose_event_loop_is_blocked(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd -o daemon_timeout=2s\n")
        c, pid = self.client_and_pid(inst)
        start = time.monotonic()
        c.s.sendall(b"BLOCK 300\n")
        inst.wait_log(rf"process \S*testd pid {pid} killed by signal 14 \(watchdog timeout\)", timeout=15)
        self.assertLess(time.monotonic() - start, 10)
        c.close()

    def test_second_master_refused(self):
        inst = self.make("127.0.0.1:{port} inet n - n - 2 testd\n")
        p = inst.run(["start"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already running", p.stderr)


@unittest.skipUnless(is_root(), "runs a second instance as nobody; needs root to switch users")
class UnprivilegedMasterTest(unittest.TestCase):
    """The same master, started by an ordinary user: everything runs as that user."""

    def test_runs_as_invoking_user(self):
        import pwd
        nobody = pwd.getpwnam("nobody")
        inst = Instance("unpriv", as_user=nobody, main_cf_extra="service_throttle_time = 3s\n")
        self.addCleanup(inst.cleanup)
        inst.write_master_cf(HEADER + f"127.0.0.1:{inst.port} inet n - n - 2 testd\n"
                             "trig unix n - n 1 1 testd model=trigger\n")
        inst.start()
        c = LineClient(("127.0.0.1", inst.port))
        pid = int(c.ask("PID"))
        c.close()
        wait_for(lambda: len(inst.processes()) >= 3, what="master and two children")
        for p in inst.processes():
            self.assertEqual(uid_of(p), nobody.pw_uid, f"pid {p} {inst.processes().get(p)}")
        inst.wait_log(r"running as uid %d, not root: privileges are not separated" % nobody.pw_uid)
        os.kill(pid, signal.SIGKILL)
        inst.wait_log(r"pid %d killed by signal 9" % pid)
        inst.stop()
        wait_for(lambda: not inst.processes(), what="no process left")


class StartupErrorTest(unittest.TestCase):
    def test_bad_main_cf_names_file_and_line(self):
        inst = Instance("badcfg", main_cf_extra="max_use = lots\n")
        self.addCleanup(inst.cleanup)
        p = inst.run(["start"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"postern: fatal: .*main\.cf, line \d+")
        self.assertEqual(inst.processes(), {})

    def test_check_reports_queue_problems(self):
        inst = Instance("check")
        self.addCleanup(inst.cleanup)
        self.assertEqual(inst.run(["check"], check=False).returncode, 0, inst.run(["check"], check=False).stderr)
        os.chmod(os.path.join(inst.queue, "incoming"), 0o777)
        p = inst.run(["check"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("incoming: mode 0777, want 0700", p.stderr)
        inst.run(["set-permissions"])
        self.assertEqual(inst.run(["check"], check=False).returncode, 0)


if __name__ == "__main__":
    unittest.main()
