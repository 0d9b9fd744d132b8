"""The queue manager end to end: sendmail -> pickup -> cleanup -> incoming/
-> qmgr -> a delivery agent, with retries, bounces, expiry, delay warnings,
crash recovery, corrupt files and per-destination concurrency.

The delivery agent is a fake written here (FakeAgent): it listens on
queue/private/fake, speaks delivery_request/delivery_reply (docs/ipc.md,
ipc/proto/deliver.h) through ipcwire.py, and answers what each test tells
it, counting concurrent deliveries per next hop. default_transport,
local_transport and relay_transport all point at it. The bounce, defer and
trace services are a fake too (FakeBounce, ipc/proto/bounce.h): it records
every request, keeps bounce/ID and defer/X/ID files like the real service
(qmgr decides whether to flush by looking at them), and answers status 0.
"""
import os
import re
import select
import signal
import socket
import stat
import struct
import subprocess
import threading
import time
import unittest

import ipcwire
from harness import Instance, LIBEXEC, SBIN, wait_for

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"


def master_cf(qmgr_wakeup=300, real_bounce=False):
    text = (HEADER + "pickup unix n - n 60 1 pickup\n"
            "cleanup unix n - n - 0 cleanup\n"
            "rewrite unix - - n - - trivial-rewrite\n"
            f"qmgr unix n - n {qmgr_wakeup} 1 qmgr\n")
    if real_bounce:
        text += "".join(f"{s} unix - - n - 0 bounce\n" for s in ("bounce", "defer", "trace"))
    return text


class _Server:
    """A threaded Unix-socket server speaking frames; subclasses handle().
    A connection carries requests until the client closes it, unless
    hang_up_after_reply (close after each reply, as after a reply that says
    closing) or hang_up_on_next (close, unanswered, on a connection's second
    request). `pipelined` counts replies written while the client's next
    request was already waiting."""

    hang_up_after_reply = False
    hang_up_on_next = False

    def __init__(self, path):
        self.path = path
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.threads = []
        self.connections = 0
        self.pipelined = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        conn.settimeout(30)
        served = 0
        try:
            while not self.stopping:
                hdr = self._read(conn, 4)
                if hdr is None:
                    return
                (n,) = struct.unpack(">I", hdr)
                payload = self._read(conn, n)
                if payload is None:
                    return
                if served and self.hang_up_on_next:
                    return  # as an agent that dies with the request
                reply = self.handle(*ipcwire.decode(payload))
                if reply is None:
                    return
                if select.select([conn], [], [], 0)[0]:
                    self.pipelined += 1
                conn.sendall(ipcwire.frame(ipcwire.encode(*reply)))
                served += 1
                if self.hang_up_after_reply or ("closing", 1) in reply[1]:
                    return
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def close(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(2)


class FakeAgent(_Server):
    """answer(queue_id, nexthop, recipients, attempt) -> (dsn, text, site_failure)
    for the whole request; delay(nexthop) seconds before answering."""

    def __init__(self, path, queue_dir):
        self.queue_dir = queue_dir
        self.lock = threading.Lock()
        self.requests = []          # (queue_id, nexthop, recipients, dsn)
        self.attempts = {}          # queue_id -> count
        self.running = {}           # nexthop -> now
        self.max_running = {}       # nexthop -> highest seen
        self.done_at = {}           # queue_id -> time of a 2xx answer
        self.started = []           # (nexthop, time) of each request read
        self.flags = []             # each request's flags, in the order read
        self.answer = lambda qid, nexthop, rcpts, attempt: ("2.0.0", "delivered", 0)
        self.delay = lambda nexthop: 0
        self.gate = threading.Event()
        self.gate.set()
        self.file_seen = True
        self.closing = 0            # what delivery_reply says
        self.action = None          # delivery_reply's success action, for every recipient
        super().__init__(path)

    def handle(self, msg_type, attrs):
        assert msg_type == "delivery_request", msg_type
        qid, nexthop, rcpts = attrs["queue_id"], attrs["nexthop"], attrs["recipients"]
        # The agent reads the file where qmgr says it is.
        if not os.path.exists(os.path.join(self.queue_dir, attrs["queue_name"], qid)):
            self.file_seen = False
        with self.lock:
            self.attempts[qid] = self.attempts.get(qid, 0) + 1
            self.started.append((nexthop, time.time()))
            self.flags.append(attrs["flags"])
            attempt = self.attempts[qid]
            self.running[nexthop] = self.running.get(nexthop, 0) + 1
            self.max_running[nexthop] = max(self.max_running.get(nexthop, 0), self.running[nexthop])
        try:
            self.gate.wait(60)
            d = self.delay(nexthop)
            if d:
                time.sleep(d)
            dsn, text, site = self.answer(qid, nexthop, rcpts, attempt)
        finally:
            with self.lock:
                self.running[nexthop] -= 1
        with self.lock:
            self.requests.append((qid, nexthop, list(rcpts), dsn))
            if dsn.startswith("2"):
                self.done_at[qid] = time.time()
        n = len(rcpts)
        attrs = [("dsn", [dsn] * n), ("text", [text] * n), ("relay", ["fake[127.0.0.1]"] * n),
                 ("site_failure", site), ("closing", self.closing)]
        if self.action is not None:
            attrs.append(("action", [self.action] * n))
        return ("delivery_reply", attrs)

    def delivered(self):
        with self.lock:
            return {q for q, _, _, dsn in self.requests if dsn.startswith("2")}


class FakeBounce:
    """private/bounce, private/defer and private/trace."""

    def __init__(self, queue_dir):
        self.queue_dir = queue_dir
        self.lock = threading.Lock()
        self.requests = []  # (service, op, attrs)
        self.fail = set()  # (service, op) answered with a failure, the log left alone
        self.servers = [self._server(s) for s in ("bounce", "defer", "trace")]

    def _server(self, service):
        outer = self

        class S(_Server):
            def handle(self, msg_type, attrs):
                assert msg_type == "bounce_request", msg_type
                op = attrs["op"]
                with outer.lock:
                    outer.requests.append((service, op, attrs))
                    if (service, op) in outer.fail:
                        return ("status", [("status", 1), ("reason", "cleanup unavailable")])
                # Where the real bounce daemon keeps it: the configured
                # layout (defaults: defer/ hashed one level by the first
                # character of a short queue ID; bounce/, trace/ flat). The
                # qmgr looks there only, as Postfix's does.
                qid = attrs["queue_id"]
                sub = [qid[0]] if service == "defer" else []
                log = os.path.join(outer.queue_dir, service, *sub, qid)
                os.makedirs(os.path.dirname(log), exist_ok=True)
                if op == "append":
                    with open(log, "a") as f:
                        for r, d in zip(attrs["recipients"], attrs["dsn"]):
                            f.write(f"recipient={r}\nstatus={d}\naction={attrs['action']}\n\n")
                elif op in ("flush", "remove"):
                    try:
                        os.unlink(log)
                    except FileNotFoundError:
                        pass
                return ("status", [("status", 0), ("reason", "")])

        return S(os.path.join(self.queue_dir, "private", service))

    def seen(self, service=None, op=None, qid=None):
        with self.lock:
            return [(s, o, a) for s, o, a in self.requests
                    if (service is None or s == service) and (op is None or o == op)
                    and (qid is None or a.get("queue_id") == qid)]

    def close(self):
        for s in self.servers:
            s.close()


class QmgrTest(unittest.TestCase):
    def make(self, extra="", qmgr_wakeup=300, bounce=True, real_bounce=False):
        main = (f"daemon_directory = {os.path.abspath(LIBEXEC)}\n"
                f"command_directory = {os.path.abspath(SBIN)}\n"
                "default_transport = fake\nlocal_transport = fake\nrelay_transport = fake\n"
                "queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n"
                "ipc_timeout = 60s\n" + extra)
        inst = Instance("qmgr", main_cf_extra=main, master_cf=master_cf(qmgr_wakeup, real_bounce))
        self.addCleanup(inst.cleanup)
        self.agent = FakeAgent(os.path.join(inst.queue, "private", "fake"), inst.queue)
        self.addCleanup(self.agent.close)
        self.bounce = None
        if bounce:
            self.bounce = FakeBounce(inst.queue)
            self.addCleanup(self.bounce.close)
        inst.start()
        return inst

    def send(self, inst, rcpts, sender="alice@example.org", body="hello\n", args=()):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        argv = [os.path.join(SBIN, "sendmail"), "-C", inst.dir, "-f", sender] + list(args) + list(rcpts)
        p = subprocess.run(argv, input=f"Subject: test\n\n{body}", capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def queued_ids(self, inst, sender):
        rx = re.compile(r"postern/pickup\[\d+\]: (\w+): uid=\d+ from=<" + re.escape(sender) + ">")
        return rx.findall(inst.maillog())

    def wait_ids(self, inst, sender, n, timeout=30):
        return wait_for(lambda: (lambda ids: ids if len(ids) >= n else None)(self.queued_ids(inst, sender)),
                        timeout, what=f"{n} messages from {sender}")

    def files(self, inst, queue):
        out = []
        for dirpath, _, names in os.walk(os.path.join(inst.queue, queue)):
            out += names
        return out

    def removed(self, inst, qid):
        return re.search(rf"postern/qmgr\[\d+\]: {qid}: removed", inst.maillog())

    def trigger(self, inst, letters=b"W"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(2)
            s.connect(os.path.join(inst.queue, "public", "qmgr"))
            s.sendall(letters)
        except OSError:
            pass  # best effort, like the real senders
        finally:
            s.close()

    # ------------------------------------------------------------------
    def test_delivery_and_removal(self):
        inst = self.make()
        self.send(inst, ["bob@one.example", "carol@two.example"])
        self.send(inst, ["dave@one.example"])
        ids = self.wait_ids(inst, "alice@example.org", 2)
        for qid in ids:
            inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        log = inst.maillog()
        # pickup reads maildrop/ in directory order: tell the two apart by
        # their recipient count, not by the order they were picked up in.
        nrcpt = {q: re.search(rf"{q}: from=<alice@example.org>, size=\d+, nrcpt=(\d+) \(queue active\)", log)
                 for q in ids}
        self.assertTrue(all(nrcpt.values()), log)
        two = [q for q in ids if nrcpt[q].group(1) == "2"]
        self.assertEqual(sorted(m.group(1) for m in nrcpt.values()), ["1", "2"])
        self.assertEqual(self.agent.delivered(), set(ids))
        self.assertTrue(self.agent.file_seen)
        # Recipients at different next hops go in separate requests.
        hops = sorted(h for q, h, _, _ in self.agent.requests if q == two[0])
        self.assertEqual(hops, ["one.example", "two.example"])
        for q in ("incoming", "active", "deferred"):
            self.assertEqual(self.files(inst, q), [], q)
        self.assertEqual(self.bounce.seen(op="append"), [])

    @unittest.skipUnless(os.geteuid() == 0, "postsuper is for the superuser")
    def test_hold_during_delivery_keeps_what_was_done(self):
        # postsuper -h moves the file out of active/ while a delivery runs;
        # what qmgr then finishes must be marked in the held file, or a
        # release would deliver it all again.
        inst = self.make()
        self.agent.delay = lambda nexthop: 3 if nexthop == "slow.example" else 0
        self.send(inst, ["a@fast.example", "b@slow.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: any(h == "slow.example" for h, _ in self.agent.started), 30, what="the slow delivery")
        inst.cmd("postsuper", ["-h", qid])
        self.assertEqual(len(self.files(inst, "hold")), 1)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: finished while on hold", timeout=30)
        out = inst.cmd("postcat", ["-e", "-q", qid]).stdout
        self.assertIn("done_recipient: a@fast.example", out)
        self.assertIn("done_recipient: b@slow.example", out)
        inst.cmd("postsuper", ["-H", qid])
        self.trigger(inst)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        # One delivery each, none repeated after the release.
        self.assertEqual(sorted(h for q, h, _, _ in self.agent.requests if q == qid),
                         ["fast.example", "slow.example"])

    def _deliver_one_by_one(self, inst, n):
        """n messages, each sent once the one before is removed."""
        ids = []
        for i in range(n):
            self.send(inst, [f"u{i}@one.example"])
            (qid,) = [q for q in self.wait_ids(inst, "alice@example.org", i + 1) if q not in ids]
            inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
            ids.append(qid)
        return ids

    def _three_deliveries(self, connections, forbidden=r"qmgr\[\d+\]: warning", **agent):
        """Three messages one by one to the fake agent with the `agent`
        attributes set: all delivered, over `connections` connections,
        nothing `forbidden` logged."""
        inst = self.make()
        for name, value in agent.items():
            assert hasattr(self.agent, name), name  # a misspelt knob must not pass unnoticed
            setattr(self.agent, name, value)
        ids = self._deliver_one_by_one(inst, 3)
        self.assertEqual(self.agent.delivered(), set(ids))
        self.assertEqual(self.agent.connections, connections)
        self.assertNotRegex(inst.maillog(), forbidden)

    def test_kept_connection_carries_the_next_delivery(self):
        self._three_deliveries(connections=1)

    def test_agent_that_says_closing_gets_a_new_connection(self):
        self._three_deliveries(connections=3, closing=1)

    def test_kept_connection_closed_by_the_agent_is_not_reused(self):
        self._three_deliveries(connections=3, hang_up_after_reply=True)

    def test_request_lost_on_a_kept_connection_goes_again_on_a_new_one(self):
        # The agent closes a kept connection as the next request arrives
        # (it retired, or died): qmgr sends that request again on a new
        # connection at once, instead of deferring the message.
        self._three_deliveries(connections=3, forbidden=r"qmgr\[\d+\]: warning|deferred", hang_up_on_next=True)
        self.assertEqual(self.bounce.seen(op="append"), [])

    def _burst(self, n, **agent):
        """n messages to one destination that takes one delivery at a time,
        all in the active queue before the agent answers the first; then
        each takes agent.delay seconds. Returns their queue IDs once all
        are removed."""
        inst = self.burst_inst = self.make("fake_destination_concurrency_limit = 1\n")
        for name, value in agent.items():
            assert hasattr(self.agent, name), name
            setattr(self.agent, name, value)
        self.agent.delay = lambda hop: 0.2
        self.agent.gate.clear()
        for i in range(n):
            self.send(inst, [f"u{i}@one.example"])
        ids = self.wait_ids(inst, "alice@example.org", n)
        wait_for(lambda: len(re.findall(r"\(queue active\)", inst.maillog())) >= n, 30, what="all in active")
        self.agent.gate.set()
        for qid in ids:
            inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        self.assertEqual(self.agent.delivered(), set(ids))
        self.assertEqual(self.agent.max_running["one.example"], 1)
        # Each delivered once: a request the agent never read is sent
        # again, not taken as failed, and not counted as delivered.
        self.assertEqual(sorted(self.agent.attempts.values()), [1] * n, self.agent.attempts)
        self.assertNotRegex(inst.maillog(), r"qmgr\[\d+\]: warning|status=deferred")
        return ids

    def test_lane_sends_the_next_request_before_the_reply(self):
        # With the window full, the agent finds its next request waiting
        # when it answers: it need not wait for qmgr to read the reply and
        # send. It still gets one at a time (max_running above). The first
        # two replies may find none: the jobs were queued after the first
        # request went out, and a lane takes jobs only as replies come in.
        self._burst(5)
        self.assertEqual(self.agent.connections, 1)
        self.assertGreaterEqual(self.agent.pipelined, 3)

    def test_connection_caching_flags_follow_back_to_back_deliveries(self):
        # Postfix's on-demand connection caching: the first delivery to a
        # destination does not ask the agent to keep its connection (4: take
        # a cached one, 8: keep it); deliveries that follow one another do.
        self._burst(4)
        self.assertEqual(self.agent.flags[0] & 12, 0, self.agent.flags)
        self.assertEqual(self.agent.flags[-1] & 12, 12, self.agent.flags)
        # One message alone, later: its connection is not kept (a cached
        # one may still be taken, should the destination still be known).
        self.agent.flags.clear()
        time.sleep(2.5)
        self.send(self.burst_inst, ["late@one.example"])
        wait_for(lambda: self.agent.flags, 30, what="the late delivery")
        self.assertEqual(len(self.agent.flags), 1)
        self.assertEqual(self.agent.flags[0] & 8, 0, self.agent.flags)

    def test_request_behind_a_closing_reply_goes_on_a_new_connection(self):
        # The agent answers "closing" and reads nothing more: the request
        # qmgr had already sent behind it goes out again on a new connection.
        self._burst(4, closing=1)
        self.assertEqual(self.agent.connections, 4)

    def test_requests_waiting_at_an_agent_that_dies_go_on_a_new_connection(self):
        # The agent reads the waiting request and dies without an answer.
        self._burst(4, hang_up_on_next=True)
        self.assertEqual(self.agent.connections, 4)

    def test_defer_then_recover(self):
        inst = self.make()
        self.agent.answer = lambda qid, hop, r, attempt: (
            ("4.4.1", "connect to fake: Connection refused", 0) if attempt == 1 else ("2.0.0", "ok", 0))
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        # First attempt deferred: a defer log entry, the file in deferred/.
        wait_for(lambda: self.bounce.seen("defer", "append", qid), 20, what="defer append")
        (_, _, a), = self.bounce.seen("defer", "append", qid)
        self.assertEqual(a["action"], "delayed")
        self.assertEqual(a["dsn"], ["4.4.1"])
        inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertEqual(self.agent.attempts[qid], 2)
        # The defer log goes with the message.
        wait_for(lambda: self.bounce.seen("defer", "remove", qid), 5, what="defer remove")
        self.assertEqual(self.files(inst, "deferred"), [])

    def test_deferred_file_waits_for_its_retry_time(self):
        inst = self.make("minimal_backoff_time = 30s\nmaximal_backoff_time = 60s\n")
        self.agent.answer = lambda qid, hop, r, attempt: ("4.4.1", "try later", 0)
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="deferred file")
        path = [os.path.join(d, qid) for d, _, n in os.walk(os.path.join(inst.queue, "deferred")) if qid in n][0]
        # The next retry time is the file's mtime, ~30 s ahead.
        self.assertGreater(os.stat(path).st_mtime, time.time() + 20)
        time.sleep(2.5)
        self.assertEqual(self.agent.attempts[qid], 1)
        # A "D" flush without "A" takes it only when its time has come.
        os.utime(path, (time.time(), time.time() - 1))
        self.trigger(inst, b"D")
        wait_for(lambda: self.agent.attempts.get(qid, 0) >= 2, 10, what="second attempt")
        # postqueue -f ("FADI"): every deferred file now, whatever its time.
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="deferred again")
        self.trigger(inst, b"FADI")
        wait_for(lambda: self.agent.attempts.get(qid, 0) >= 3, 10, what="flushed attempt")

    def test_dead_destination_is_not_hammered(self):
        inst = self.make("minimal_backoff_time = 20s\nmaximal_backoff_time = 40s\n"
                         "initial_destination_concurrency = 1\n")
        self.agent.delay = lambda hop: 1.0 if hop == "dead.example" else 0
        self.agent.answer = lambda qid, hop, r, attempt: (
            ("4.4.1", "connect to dead.example: Connection refused", 1) if hop == "dead.example"
            else ("2.0.0", "ok", 0))
        for i in range(3):
            self.send(inst, [f"u{i}@dead.example"])
        ids = self.wait_ids(inst, "alice@example.org", 3)
        # qmgr takes incoming/ in directory order, not pickup's: whichever
        # message went first gets the one real attempt.
        wait_for(lambda: self.agent.attempts, 20, what="first attempt")
        (tried,) = list(self.agent.attempts)
        self.assertIn(tried, ids)
        for qid in ids:
            if qid != tried:
                inst.wait_log(rf"{qid}: to=<u\d@dead.example>, .*status=deferred \(delivery temporarily "
                              r"suspended: connect to dead.example: Connection refused\)", timeout=20)
        # One real attempt; the others were deferred without one.
        self.assertEqual(sum(self.agent.attempts.values()), 1)
        # Another destination is unaffected.
        self.send(inst, ["bob@alive.example"], sender="zed@example.org")
        (other,) = self.wait_ids(inst, "zed@example.org", 1)
        inst.wait_log(rf"{other}: removed", timeout=20)
        # A flush forgets the dead state and retries everything now.
        self.agent.answer = lambda qid, hop, r, attempt: ("2.0.0", "ok", 0)
        wait_for(lambda: all(q in self.files(inst, "deferred") for q in ids), 20, what="all deferred")
        self.trigger(inst, b"FADI")
        for qid in ids:
            inst.wait_log(rf"{qid}: removed", timeout=30)

    def test_a_delivery_longer_than_ipc_timeout_is_waited_for(self):
        # ipc_timeout bounds sending a request; the reply may take up to
        # daemon_timeout (Postfix's qmgr waits for as long as the agent
        # lives). Giving up sooner would defer a delivery the agent still
        # finishes, and send it twice.
        inst = self.make("ipc_timeout = 1s\ndaemon_timeout = 20s\n")
        self.agent.delay = lambda hop: 3
        self.send(inst, ["bob@slow.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertEqual(self.agent.attempts[qid], 1)
        self.assertEqual(self.bounce.seen("defer", "append", qid), [])

    def test_transport_unavailable(self):
        inst = self.make("default_transport = nosuch\n")
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"warning: connect to transport private/nosuch: ", timeout=20)
        inst.wait_log(rf"{qid}: to=<bob@one.example>, relay=none, .*dsn=4.3.0, status=deferred "
                      r"\(mail transport unavailable\)", timeout=20)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="deferred file")
        self.assertEqual(self.agent.requests, [])

    def test_bounce(self):
        inst = self.make()
        self.agent.answer = lambda qid, hop, r, attempt: (
            ("5.1.1", "no such user", 0) if r[0].find("nobody") >= 0 else ("2.0.0", "ok", 0))
        self.send(inst, ["nobody@one.example", "bob@two.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        (_, _, a), = self.bounce.seen("bounce", "append", qid)
        self.assertEqual(a["action"], "failed")
        self.assertEqual(a["dsn"], ["5.1.1"])
        self.assertIn("nobody@one.example", a["recipients"][0])
        flush = self.bounce.seen("bounce", "flush", qid)
        self.assertEqual(len(flush), 1)
        self.assertEqual(flush[0][2]["queue_name"], "active")
        self.assertEqual(self.agent.attempts[qid], 2)

    @unittest.skipUnless(os.path.exists(os.path.join(LIBEXEC, "bounce")), "bounce not built")
    def test_bounce_with_real_bounce_service(self):
        inst = self.make(bounce=False, real_bounce=True)
        self.agent.answer = lambda qid, hop, r, attempt: (
            ("5.1.1", "no such user", 0) if "nobody" in r[0] else ("2.0.0", "ok", 0))
        self.send(inst, ["nobody@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        # The notification comes back through cleanup from the null sender
        # and qmgr delivers it to the sender.
        m = inst.wait_log(r"postern/qmgr\[\d+\]: (\w+): from=<>, size=\d+, nrcpt=1 \(queue active\)", timeout=30)
        dsn = m.group(1)
        inst.wait_log(rf"{dsn}: removed", timeout=30)
        rcpts = [r for q, _, r, _ in self.agent.requests if q == dsn]
        self.assertEqual(len(rcpts), 1)
        self.assertIn("alice@example.org", rcpts[0][0])
        self.assertEqual(self.files(inst, "bounce"), [])

    def test_notify_success_traces(self):
        inst = self.make()
        self.send(inst, ["bob@one.example"], args=["-N", "success"])
        self.send(inst, ["carol@one.example"], sender="zed@example.org")
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        (plain,) = self.wait_ids(inst, "zed@example.org", 1)
        for q in (qid, plain):
            inst.wait_log(rf"{q}: removed", timeout=30)
        (_, _, a), = self.bounce.seen("trace", "append", qid)
        self.assertEqual(a["action"], "delivered")
        self.assertEqual(a["dsn"], ["2.0.0"])
        self.assertEqual(len(self.bounce.seen("trace", "flush", qid)), 1)
        # Without NOTIFY=SUCCESS nothing is traced.
        self.assertEqual(self.bounce.seen("trace", qid=plain), [])

    def test_success_action_from_the_agent(self):
        # Postfix's smtp(8) rules: a hand-over to an MTA without DSN is
        # "relayed"; one that speaks DSN got NOTIFY and tells the sender
        # itself, so no notice here.
        inst = self.make()
        self.agent.action = "relayed"
        self.send(inst, ["bob@one.example"], args=["-N", "success"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        (_, _, a), = self.bounce.seen("trace", "append", qid)
        self.assertEqual(a["action"], "relayed")
        self.agent.action = "none"
        self.send(inst, ["carol@one.example"], sender="yves@example.org", args=["-N", "success"])
        (other,) = self.wait_ids(inst, "yves@example.org", 1)
        inst.wait_log(rf"{other}: removed", timeout=30)
        self.assertEqual(self.bounce.seen("trace", qid=other), [])
        # local(8)'s alias expansion: one "expanded" notice for the alias.
        self.agent.action = "expanded"
        self.send(inst, ["dave@one.example"], sender="zoe@example.org", args=["-N", "success"])
        (third,) = self.wait_ids(inst, "zoe@example.org", 1)
        inst.wait_log(rf"{third}: removed", timeout=30)
        (_, _, a), = self.bounce.seen("trace", "append", third)
        self.assertEqual(a["action"], "expanded")

    def test_trace_flush_failure_keeps_message_until_the_notice_goes(self):
        # The success notice is made from the message: while the trace flush
        # fails, the message stays (its recipient marked done, so not
        # delivered twice), and the flush is tried again.
        inst = self.make()
        self.bounce.fail.add(("trace", "flush"))
        self.send(inst, ["bob@one.example"], args=["-N", "success"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: trace service failure", timeout=30)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="message kept in deferred")
        self.assertIsNone(self.removed(inst, qid))
        self.bounce.fail.clear()
        self.trigger(inst, b"FADI")
        inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertGreaterEqual(len(self.bounce.seen("trace", "flush", qid)), 2)
        self.assertEqual(self.agent.attempts[qid], 1)

    def test_trace_append_failure_defers_the_recipient(self):
        # Postfix's sent(): a success that cannot be recorded for the
        # NOTIFY=SUCCESS notice is deferred, and delivered again later.
        inst = self.make()
        self.bounce.fail.add(("trace", "append"))
        self.send(inst, ["bob@one.example"], args=["-N", "success"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: to=<bob@one\.example>, relay=fake\[127\.0\.0\.1\], .*"
                      rf"dsn=4\.3\.0, status=deferred \({qid}: trace service failed\)", timeout=30)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="message kept in deferred")
        self.bounce.fail.clear()
        self.trigger(inst, b"FADI")
        inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertEqual(self.agent.attempts[qid], 2)
        self.assertEqual(len(self.bounce.seen("trace", "flush", qid)), 1)

    def test_bounce_service_down_keeps_message(self):
        inst = self.make(bounce=False)
        self.agent.answer = lambda qid, hop, r, attempt: ("5.1.1", "no such user", 0)
        self.send(inst, ["nobody@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: bounce service failure", timeout=30)
        wait_for(lambda: qid in self.files(inst, "deferred") or qid in self.files(inst, "active")
                 or self.agent.attempts.get(qid, 0) >= 2, 10, what="message kept")
        self.assertIsNone(self.removed(inst, qid))

    def test_double_bounce_recipient_is_discarded(self):
        # Postfix's qmgr: local mail to double-bounce (an undeliverable
        # postmaster notification) is discarded, never delivered or bounced.
        # Also its start-up check: bounce_queue_lifetime is lowered to
        # maximal_queue_lifetime.
        inst = self.make("bounce_queue_lifetime = 10d\nmaximal_queue_lifetime = 1d\n")
        self.send(inst, ["double-bounce@localhost", "bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        log = inst.maillog()
        self.assertRegex(log, rf"{qid}: to=<double-bounce@localhost>, relay=none, .*dsn=2\.0\.0, status=sent "
                              r"\(undeliverable postmaster notification discarded\)")
        self.assertRegex(log, rf"warning: {qid}: undeliverable postmaster notification discarded")
        rcpts = [r for (q, _, rs, _) in self.agent.requests if q == qid for r in rs]
        self.assertTrue(rcpts)
        self.assertFalse([r for r in rcpts if "double-bounce" in str(r)], rcpts)
        self.assertIn("warning: bounce_queue_lifetime is larger than maximal_queue_lifetime - adjusting "
                      "bounce_queue_lifetime", log)

    def test_expiry(self):
        inst = self.make("maximal_queue_lifetime = 2s\n")
        self.agent.answer = lambda qid, hop, r, attempt: ("4.4.1", "connect to fake: Connection refused", 0)
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        log = inst.maillog()
        # One line for the message, as Postfix's qmgr logs it (log analyzers
        # count it once); the recipient was logged when it was deferred (by
        # the agent: not this fake one).
        self.assertNotRegex(log, rf"{qid}: to=<bob@one.example>, .*status=expired")
        self.assertRegex(log, rf"{qid}: from=<alice@example.org>, status=expired, returned to sender")
        (_, _, a), = self.bounce.seen("bounce", "append", qid)
        self.assertEqual(a["action"], "failed")
        self.assertEqual(len(self.bounce.seen("bounce", "flush", qid)), 1)
        self.assertGreaterEqual(self.agent.attempts[qid], 2)

    def test_finished_recipients_are_marked_while_other_jobs_run(self):
        # A job's delivered recipients go into the queue file as soon as it
        # completes when the message has other jobs still running, so that
        # a qmgr restart (reload, crash) does not deliver them again.
        inst = self.make()
        self.agent.delay = lambda hop: 8 if hop == "two.example" else 0
        self.send(inst, ["bob@one.example", "carol@two.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: qid in self.agent.delivered(), 20, what="bob's delivery")

        def marks():
            out = inst.cmd("postcat", ["-q", qid], check=False).stdout
            return re.findall(r"(?m)^(recipient|done_recipient): (\S+)", out)

        wait_for(lambda: ("done_recipient", "bob@one.example") in marks(), 5, what="bob marked done in the file")
        self.assertIn(("recipient", "carol@two.example"), marks())
        self.assertIsNone(self.removed(inst, qid))
        inst.wait_log(rf"{qid}: removed", timeout=30)

    def test_forced_expiry(self):
        # postsuper -e/-f (Postfix 3.5): the expire mark (group execute bit)
        # makes qmgr return the message at its next attempt instead of
        # delivering it. A recipient keeps its last delay reason from the
        # defer log; one without gets Postfix's 4.7.0 text, logged as a
        # deferral.
        inst = self.make("minimal_backoff_time = 1h\nmaximal_backoff_time = 1h\n")
        self.agent.answer = lambda qid, hop, r, attempt: ("4.4.1", "connect to fake: Connection refused", 0)
        self.send(inst, ["bob@one.example", "carol@two.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="the message in deferred/")
        attempts = self.agent.attempts[qid]
        # The defer log as the bounce daemon writes it, bob's entry only.
        log_path = os.path.join(inst.queue, "defer", qid[0], qid)
        with open(log_path, "w") as f:
            f.write("recipient=bob@one.example\nstatus=4.4.2\naction=delayed\n"
                    "reason=lost connection with fake[127.0.0.1] while receiving the initial server greeting\n"
                    "relay=fake[127.0.0.1]\ntime=1700000000\n\n")
        path = os.path.join(inst.queue, "deferred", qid[0], qid)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXGRP)
        self.trigger(inst, b"FADI")
        inst.wait_log(rf"{qid}: removed", timeout=30)
        log = inst.maillog()
        self.assertRegex(log, rf"{qid}: from=<alice@example.org>, status=force-expired, returned to sender")
        self.assertRegex(log, rf"{qid}: to=<carol@two\.example>, relay=none, .*dsn=4\.7\.0, status=deferred "
                              r"\(message is administratively expired\)")
        self.assertNotRegex(log, rf"{qid}: to=<bob@one\.example>.*administratively")
        self.assertEqual(self.agent.attempts[qid], attempts)  # not tried again
        got = {}
        for _, _, a in self.bounce.seen("bounce", "append", qid):
            self.assertEqual(a["action"], "failed")
            for r, d, t in zip(a["recipients"], a["dsn"], a["text"]):
                # An encoded recipient record: "a<length>:<address>..." first.
                m = re.match(r"a(\d+):", r)
                got[r[m.end():m.end() + int(m.group(1))]] = (d, t)
        self.assertEqual(got, {
            "bob@one.example": ("4.4.2", "lost connection with fake[127.0.0.1] while receiving the initial "
                                         "server greeting"),
            "carol@two.example": ("4.7.0", "message is administratively expired")})
        self.assertEqual(len(self.bounce.seen("bounce", "flush", qid)), 1)

    def test_delay_warning(self):
        inst = self.make("delay_warning_time = 1s\n")
        self.agent.answer = lambda qid, hop, r, attempt: ("4.4.1", "try later", 0)
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: self.bounce.seen("defer", "warn", qid), 20, what="delay warning")
        wait_for(lambda: self.agent.attempts.get(qid, 0) >= 4, 20, what="more attempts")
        # Once only, and the message is still queued.
        self.assertEqual(len(self.bounce.seen("defer", "warn", qid)), 1)
        self.assertIsNone(self.removed(inst, qid))

    def test_kill_9_with_messages_in_active(self):
        inst = self.make("service_throttle_time = 1s\n")
        self.agent.gate.clear()  # hold every delivery
        for i in range(5):
            self.send(inst, [f"user{i}@one.example"])
        ids = self.wait_ids(inst, "alice@example.org", 5)
        wait_for(lambda: len(self.files(inst, "active")) == 5, 20, what="5 messages in active")
        (pid,) = inst.service_pids("qmgr")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not inst.service_pids("qmgr") or inst.service_pids("qmgr") != {pid}, 10,
                 what="qmgr gone")
        self.agent.gate.set()
        # The held deliveries of the dead qmgr may have "succeeded": duplicates
        # are allowed, loss is not. Wake the master's qmgr service.
        wait_for(lambda: (self.trigger(inst), all(self.removed(inst, q) for q in ids))[1], 30, interval=0.5,
                 what="all messages delivered after restart")
        self.assertRegex(inst.maillog(), r"recovered 5 messages from the active queue")
        self.assertEqual(self.agent.delivered(), set(ids))
        for q in ("incoming", "active", "deferred"):
            self.assertEqual(self.files(inst, q), [], q)

    def test_defer_transports_wait_for_a_flush(self):
        inst = self.make("defer_transports = fake\n")
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: to=<bob@one\.example>, relay=none, .*dsn=4\.3\.2, "
                      r"status=deferred \(deferred transport\)", timeout=30)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="the message in deferred/")
        # Retry time or not, an ordinary deferred-queue run leaves it there.
        self.trigger(inst, b"D")
        time.sleep(1.5)
        self.assertEqual(self.agent.delivered(), set())
        self.assertFalse(self.removed(inst, qid))
        # postqueue -f (sendmail -q): scan all, flush.
        self.assertEqual(inst.cmd("postqueue", ["-f"]).returncode, 0)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        self.assertEqual(self.agent.delivered(), {qid})

    def deferred_for_transport(self, inst):
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: to=<bob@one\.example>, .*status=deferred \(deferred transport\)", timeout=30)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="the message in deferred/")
        return qid

    @unittest.skipUnless(os.geteuid() == 0, "postqueue -i and -s need write access to the queue")
    def test_postqueue_i_delivers_in_spite_of_defer_transports(self):
        # Postfix: postqueue -i marks the file (unthrottle, the group read
        # bit), and qmgr ignores defer_transports for that message.
        inst = self.make("defer_transports = fake\n")
        qid = self.deferred_for_transport(inst)
        self.assertEqual(inst.cmd("postqueue", ["-i", qid]).returncode, 0)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        self.assertEqual(self.agent.delivered(), {qid})

    @unittest.skipUnless(os.geteuid() == 0, "postqueue -s needs write access to the queue")
    def test_postqueue_s_delivers_in_spite_of_defer_transports(self):
        # postqueue -s first sends F: qmgr's next scans ignore defer_transports.
        inst = self.make("defer_transports = fake\n")
        qid = self.deferred_for_transport(inst)
        self.assertEqual(inst.cmd("postqueue", ["-s", "one.example"]).returncode, 0)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        self.assertEqual(self.agent.delivered(), {qid})

    @unittest.skipUnless(os.geteuid() == 0, "postqueue -i needs write access to the queue")
    def test_postqueue_i_revives_a_dead_destination(self):
        # A destination marked dead stays skipped for minimal_backoff_time;
        # postqueue -i of one of its messages tries it again now.
        # (Window 1: one failure is a whole failed cohort.)
        inst = self.make("minimal_backoff_time = 120s\nmaximal_backoff_time = 240s\n"
                         "initial_destination_concurrency = 1\n")
        first = []

        def answer(qid, hop, r, attempt):
            first.append(qid)
            if qid == first[0]:
                return ("4.4.1", "connect to dead.example: Connection refused", 1)
            return ("2.0.0", "ok", 0)

        self.agent.answer = answer
        self.send(inst, ["bob@dead.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: qid in self.files(inst, "deferred"), 20, what="the message in deferred/")
        # A second message for the dead destination is not even tried.
        self.send(inst, ["carol@dead.example"], sender="zed@example.org")
        (second,) = self.wait_ids(inst, "zed@example.org", 1)
        inst.wait_log(rf"{second}: to=<carol@dead\.example>, .*status=deferred \(delivery temporarily suspended",
                      timeout=30)
        self.assertNotIn(second, self.agent.attempts)
        self.assertEqual(inst.cmd("postqueue", ["-i", second]).returncode, 0)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {second}: removed", timeout=30)
        self.assertEqual(self.agent.attempts[second], 1)
        self.assertIn(second, self.agent.delivered())

    def test_recipients_starting_with_a_dash_bounce(self):
        # allow_min_user = no (default): never handed to a transport.
        inst = self.make()
        self.send(inst, ["-oQ/tmp@one.example", "bob@one.example"], args=("--",))
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        (_, _, a), = self.bounce.seen("bounce", "append", qid)
        self.assertEqual(a["dsn"], ["5.1.3"])
        self.assertIn("-oQ/tmp@one.example", a["recipients"][0])
        self.assertEqual(self.agent.attempts[qid], 1)  # bob only
        # allow_min_user = yes: delivered like any other.
        inst = self.make("allow_min_user = yes\n")
        self.send(inst, ["-oQ/tmp@one.example"], args=("--",))
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertEqual(self.bounce.seen("bounce", "append", qid), [])
        self.assertEqual(self.agent.attempts[qid], 1)

    def test_recycle_bin_marks_and_the_sweep_at_start(self):
        inst = self.make("service_throttle_time = 1s\n")
        self.send(inst, ["bob@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"postern/qmgr\[\d+\]: {qid}: removed", timeout=30)
        binp = os.path.join(inst.queue, "recycle")
        # A finished file enters the bin without its ready mark (queue/recycle.h).
        self.assertEqual([n for n in os.listdir(binp)], [qid])
        self.assertEqual(os.stat(os.path.join(binp, qid)).st_mode & 0o777, 0o600)
        owner = os.stat(binp)

        def put(path, data, mode):
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, mode)
            os.chown(path, owner.st_uid, owner.st_gid)

        # As a crash can leave them: a marked file nothing else names, and a
        # marked name of a message that is still queued (here in hold/).
        put(os.path.join(binp, "12345ABC"), b"old finished message\n", 0o700)
        held = os.path.join(inst.queue, "hold", "12346ABD")
        put(held, b"a queued message\n", 0o700)
        os.link(held, os.path.join(binp, "12347ABE"))
        (pid,) = inst.service_pids("qmgr")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (self.trigger(inst), inst.service_pids("qmgr") - {pid})[1], 20, interval=0.5,
                 what="a new qmgr")
        inst.wait_log(r"postern/qmgr\[\d+\]: recycle bin: 1 file\(s\) made reusable, 1 left alone", timeout=20)
        self.assertEqual(os.stat(os.path.join(binp, "12345ABC")).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.join(binp, "12347ABE")).st_mode & 0o777, 0o700)
        with open(held, "rb") as f:
            self.assertEqual(f.read(), b"a queued message\n")

    def test_corrupt_files_go_to_corrupt(self):
        inst = self.make()
        self.agent.gate.clear()
        self.send(inst, ["bob@one.example"])
        (first,) = self.wait_ids(inst, "alice@example.org", 1)
        wait_for(lambda: first in self.files(inst, "active"), 20, what="first message active")
        with open(os.path.join(inst.queue, "active", first), "rb") as f:
            good = f.read()
        incoming = os.path.join(inst.queue, "incoming")
        for name, data in (("12345ABC", b"this is not a queue file\n" * 10), ("12346ABD", good[: len(good) // 2])):
            p = os.path.join(incoming, name)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o700)  # the ready mark
            st = os.stat(incoming)
            os.chown(p, st.st_uid, st.st_gid)  # as cleanup would have written it
        # And an unfinished file (no ready mark) that must be left alone.
        p = os.path.join(incoming, "12347ABE")
        with open(p, "wb") as f:
            f.write(b"still being written")
        os.chmod(p, 0o600)
        self.send(inst, ["carol@two.example"], sender="zed@example.org")
        (second,) = self.wait_ids(inst, "zed@example.org", 1)
        self.agent.gate.set()
        for qid in (first, second):
            inst.wait_log(rf"{qid}: removed", timeout=30)
        wait_for(lambda: sorted(self.files(inst, "corrupt")) == ["12345ABC", "12346ABD"], 10,
                 what="both bad files in corrupt/")
        log = inst.maillog()
        self.assertRegex(log, r"warning: 12345ABC: .*moved to corrupt/12345ABC")
        self.assertRegex(log, r"warning: 12346ABD: .*moved to corrupt/12346ABD")
        self.assertEqual(self.files(inst, "incoming"), ["12347ABE"])

    def test_per_destination_concurrency(self):
        inst = self.make("fake_destination_concurrency_limit = 2\ninitial_destination_concurrency = 5\n")
        self.agent.delay = lambda hop: 1.0 if hop == "slow.example" else 0
        for i in range(8):
            self.send(inst, [f"u{i}@slow.example"], sender="slow@example.org")
        for i in range(4):
            self.send(inst, [f"u{i}@fast.example"], sender="fast@example.org")
        slow = self.wait_ids(inst, "slow@example.org", 8)
        fast = self.wait_ids(inst, "fast@example.org", 4)
        for qid in slow + fast:
            inst.wait_log(rf"{qid}: removed", timeout=60)
        self.assertEqual(self.agent.max_running["slow.example"], 2)
        self.assertLessEqual(self.agent.max_running["fast.example"], 2)
        # The fast destination is not held back behind the slow one.
        self.assertLess(max(self.agent.done_at[q] for q in fast), max(self.agent.done_at[q] for q in slow))

    def test_per_transport_initial_concurrency_and_feedback(self):
        # <transport>_initial_destination_concurrency and the feedback
        # parameters: starting at 1 with no positive feedback the window
        # never grows; with a fixed feedback of 1 it grows by one per
        # delivery.
        def burst(extra):
            # (A recipient limit of 2: with 1 each recipient would be a
            # destination of its own, as in Postfix.)
            inst = self.make("fake_destination_recipient_limit = 2\nfake_destination_concurrency_limit = 10\n"
                             "initial_destination_concurrency = 5\nfake_initial_destination_concurrency = 1\n"
                             + extra)
            self.agent.delay = lambda hop: 0.3
            self.send(inst, [f"u{i}@window.example" for i in range(16)])
            (qid,) = self.wait_ids(inst, "alice@example.org", 1)
            inst.wait_log(rf"{qid}: removed", timeout=60)
            running = self.agent.max_running["window.example"]
            self.assertNotRegex(inst.maillog(), r"qmgr\[\d+\]: warning")
            inst.cleanup()
            self.agent.close()
            return running

        self.assertEqual(burst("fake_destination_concurrency_positive_feedback = 0\n"), 1)
        self.assertGreaterEqual(burst("fake_destination_concurrency_positive_feedback = 1\n"), 3)

    def gaps(self, hops):
        times = sorted(t for h, t in self.agent.started if h in hops)
        return [b - a for a, b in zip(times, times[1:])]

    def test_destination_rate_delay(self):
        # One delivery at a time to paced.example, 1 s apart (the
        # concurrency limit notwithstanding); other destinations unpaced
        # by it.
        inst = self.make("fake_destination_rate_delay = 1s\nfake_destination_concurrency_limit = 5\n"
                         "initial_destination_concurrency = 5\n")
        self.agent.delay = lambda hop: 0.2
        for i in range(3):
            self.send(inst, [f"u{i}@paced.example"], sender="paced@example.org")
        for i in range(3):
            self.send(inst, [f"u@d{i}.example"], sender="other@example.org")
        for qid in self.wait_ids(inst, "paced@example.org", 3) + self.wait_ids(inst, "other@example.org", 3):
            inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertEqual(self.agent.max_running["paced.example"], 1)
        gaps = self.gaps({"paced.example"})
        self.assertEqual(len(gaps), 2)
        # Each start waits for the last reply (0.2 s) and then 1 s.
        self.assertTrue(all(g >= 1.1 for g in gaps), gaps)
        # The other destinations did not wait for paced.example's turns.
        others = sorted(t for h, t in self.agent.started if h.startswith("d"))
        self.assertLess(others[-1] - min(t for _, t in self.agent.started), 2.0)

    def test_transport_rate_delay(self):
        inst = self.make("fake_transport_rate_delay = 1s\n")
        for i in range(3):
            self.send(inst, [f"u@t{i}.example"], sender="tx@example.org")
        for qid in self.wait_ids(inst, "tx@example.org", 3):
            inst.wait_log(rf"{qid}: removed", timeout=30)
        # Three destinations, yet one delivery at a time, 1 s apart.
        gaps = self.gaps({"t0.example", "t1.example", "t2.example"})
        self.assertEqual(len(gaps), 2)
        self.assertTrue(all(g >= 0.95 for g in gaps), gaps)

    def test_big_message_does_not_starve_small_one(self):
        inst = self.make("fake_destination_recipient_limit = 2\nfake_destination_concurrency_limit = 1\n")
        self.agent.delay = lambda hop: 0.3
        self.send(inst, [f"u{i}@list.example" for i in range(20)], sender="list@example.org")
        (big,) = self.wait_ids(inst, "list@example.org", 1)
        self.send(inst, ["bob@list.example"], sender="zed@example.org")
        (small,) = self.wait_ids(inst, "zed@example.org", 1)
        for qid in (big, small):
            inst.wait_log(rf"{qid}: removed", timeout=30)
        self.assertEqual(self.agent.max_running["list.example"], 1)
        big_requests = [r for q, _, r, _ in self.agent.requests if q == big]
        self.assertEqual(len(big_requests), 10)
        self.assertTrue(all(len(r) == 2 for r in big_requests))
        # The small message took its turn between the list's deliveries.
        self.assertLess(self.agent.done_at[small], self.agent.done_at[big])

    def test_local_recipient_limit_one(self):
        # local_destination_recipient_limit = 1 style: one recipient per request.
        inst = self.make("fake_destination_recipient_limit = 1\n")
        self.send(inst, ["a@one.example", "b@one.example", "c@one.example"])
        (qid,) = self.wait_ids(inst, "alice@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=30)
        reqs = [r for q, _, r, _ in self.agent.requests if q == qid]
        self.assertEqual(len(reqs), 3)
        self.assertTrue(all(len(r) == 1 for r in reqs))

    # qmgr_message_recipient_limit bounds the recipients in memory (the
    # active limit must not exceed it, or qmgr raises it).
    SLICES = ("qmgr_message_active_limit = 2\nqmgr_message_recipient_limit = 5\n"
              "qmgr_message_recipient_minimum = 2\nfake_destination_recipient_limit = 1\n"
              "fake_destination_concurrency_limit = 50\ninitial_destination_concurrency = 50\n")

    def deliver_list(self, inst, n):
        """Sends one message to u0..u(n-1)@list.example and waits for its removal."""
        rcpts = [f"u{i}@list.example" for i in range(n)]
        self.send(inst, rcpts, sender="list@example.org")
        (qid,) = self.wait_ids(inst, "list@example.org", 1)
        inst.wait_log(rf"{qid}: removed", timeout=60)
        return qid, rcpts

    def addresses(self, qid):
        out = []
        for q, _, rs, dsn in self.agent.requests:
            if q == qid:
                out += [(re.search(r"u\d+@list\.example", r).group(0), dsn) for r in rs]
        return out

    def test_long_recipient_list_is_read_in_slices(self):
        # 23 recipients, at most 5 in memory: never more than 5 deliveries
        # of the message at once, each recipient delivered exactly once.
        inst = self.make(self.SLICES)
        self.agent.delay = lambda hop: 0.05
        qid, rcpts = self.deliver_list(inst, 23)
        got = self.addresses(qid)
        self.assertEqual(sorted(a for a, _ in got), sorted(rcpts))
        # The next slice (qmgr_message_recipient_minimum while the first
        # one fills the limit) is read when the newest is half finished.
        self.assertLessEqual(self.agent.max_running["list.example"], 5 + 2)
        self.assertGreaterEqual(self.agent.max_running["list.example"], 2)
        self.assertNotRegex(inst.maillog(), r"qmgr\[\d+\]: warning")

    def test_one_slow_delivery_does_not_hold_the_next_slices(self):
        # Slices are read ahead, not after the last delivery of the one
        # before: a slow recipient in the first slice holds only itself
        # (and what its connection has queued behind it).
        inst = self.make(self.SLICES)

        def answer(qid, hop, rs, attempt):
            if "u0@list.example" in rs[0]:
                time.sleep(4)
            return ("2.0.0", "ok", 0)

        self.agent.answer = answer
        qid, rcpts = self.deliver_list(inst, 12)
        order = [a for a, _ in self.addresses(qid)]
        self.assertEqual(sorted(order), sorted(rcpts))
        self.assertGreaterEqual(order.index("u0@list.example"), 9, order)

    def test_deferrals_in_early_slices_keep_the_message(self):
        # Recipients deferred in the first slices are not lost when later
        # slices finish: the message is deferred once its last slice is
        # done and the retry delivers only them.
        inst = self.make(self.SLICES)
        lock = threading.Lock()
        tries = {}

        def answer(qid, hop, rs, attempt):
            addr = re.search(r"u\d+@list\.example", rs[0]).group(0)
            with lock:
                tries[addr] = tries.get(addr, 0) + 1
                first = tries[addr] == 1
            if addr in ("u1@list.example", "u7@list.example") and first:
                return ("4.2.0", "try again", 0)
            return ("2.0.0", "ok", 0)

        self.agent.answer = answer
        qid, rcpts = self.deliver_list(inst, 12)
        got = self.addresses(qid)
        delivered = sorted(a for a, dsn in got if dsn.startswith("2"))
        self.assertEqual(delivered, sorted(rcpts))
        self.assertEqual(tries["u1@list.example"], 2)
        self.assertEqual(tries["u7@list.example"], 2)
        self.assertEqual({a: n for a, n in tries.items() if n != 1},
                         {"u1@list.example": 2, "u7@list.example": 2})
        deferrals = self.bounce.seen("defer", "append", qid)
        self.assertEqual(len(deferrals), 2)
        wait_for(lambda: self.bounce.seen("defer", "remove", qid), 5, what="defer remove")

    def test_long_list_does_not_hold_the_active_queue(self):
        # A message that arrives while a long list fills the in-memory
        # recipients gets its turn at the list's next slice, not after its
        # last one.
        inst = self.make(self.SLICES.replace("concurrency_limit = 50", "concurrency_limit = 2"))
        self.agent.delay = lambda hop: 0.2 if hop == "list.example" else 0
        self.send(inst, [f"u{i}@list.example" for i in range(30)], sender="list@example.org")
        (big,) = self.wait_ids(inst, "list@example.org", 1)
        wait_for(lambda: self.agent.started, 20, what="the list's first delivery")
        self.send(inst, ["bob@other.example"], sender="zed@example.org")
        (small,) = self.wait_ids(inst, "zed@example.org", 1)
        for qid in (big, small):
            inst.wait_log(rf"{qid}: removed", timeout=90)
        self.assertLess(self.agent.done_at[small], self.agent.done_at[big])
        self.assertEqual(len(self.addresses(big)), 30)


if __name__ == "__main__":
    unittest.main()
