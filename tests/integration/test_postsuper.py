"""postsuper -d/-h/-H/-r/-s/-p on a queue of a few thousand messages.

The queue is written directly (queuegen.py). Only -r needs daemons
(cleanup, and trivial-rewrite when built); the other tests run with the
master stopped, which is also how an administrator repairs a queue.
"""
import os
import pwd
import re
import stat
import subprocess
import time
import unittest

import queuegen
from harness import Instance, LIBEXEC, SBIN, is_root

HEADER = "# service type private unpriv chroot wakeup maxproc command\n"


def master_cf():
    text = HEADER + "cleanup unix n - n - 0 cleanup\n"
    if os.path.exists(os.path.join(LIBEXEC, "trivial-rewrite")):
        text += "rewrite unix - - n - - trivial-rewrite\n"
    return text


def mail_owner():
    for name in ("postern", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise unittest.SkipTest("no user for mail_owner")


@unittest.skipUnless(is_root(), "postsuper is for the superuser")
class PostsuperTest(unittest.TestCase):
    def setUp(self):
        self.owner = mail_owner()
        extra = (f"daemon_directory = {os.path.abspath(LIBEXEC)}\ncommand_directory = {os.path.abspath(SBIN)}\n"
                 f"mail_owner = {self.owner.pw_name}\n")
        self.inst = Instance("postsuper", main_cf_extra=extra, master_cf=master_cf())
        self.addCleanup(self.inst.cleanup)
        # The master creates the queue tree; stop it again for the offline tests.
        self.inst.start()
        self.inst.stop()
        self.q = self.inst.queue

    def add(self, queue, n, **kw):
        out = []
        for i in range(n):
            out.append(queuegen.write_message(self.q, queue, f"s{i}@example.com", [f"r{i}@example.net"],
                                              uid=self.owner.pw_uid, gid=self.owner.pw_gid, **kw))
        return out

    def postsuper(self, args, check=True, input=None, user=None):
        argv = [os.path.join(SBIN, "postsuper"), "-c", self.inst.dir] + list(args)
        if user is not None:
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"] + argv
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, input=input)
        if check:
            self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def test_delete(self):
        inc = self.add("incoming", 1000)
        dfr = self.add("deferred", 1000)
        hold = self.add("hold", 10)
        log = queuegen.write_defer_log(self.q, dfr[0], [("r0@example.net", "timeout")],
                                       uid=self.owner.pw_uid, gid=self.owner.pw_gid)
        p = self.postsuper(["-d", dfr[0]])
        self.assertIn("postsuper: Deleted: 1 message\n", p.stderr)
        self.assertIn(f"postsuper: {dfr[0]}: removed\n", p.stderr)
        self.assertFalse(os.path.exists(log))
        self.assertIsNone(queuegen.find(self.q, "deferred", dfr[0]))
        self.assertRegex(self.inst.maillog(), re.escape(dfr[0]) + r": removed")
        # From standard input, mailq style (trailing status marks, junk lines).
        stdin = "".join(f"{i}!\n" for i in hold[:3]) + "-Queue ID- junk\n\n" + f"{inc[0]}\n"
        p = self.postsuper(["-d", "-"], input=stdin)
        self.assertIn("Deleted: 4 messages", p.stderr)
        # ALL, limited to one queue.
        p = self.postsuper(["-d", "ALL", "deferred"])
        self.assertIn("Deleted: 999 messages", p.stderr)
        self.assertEqual(queuegen.ids(self.q, "deferred"), [])
        self.assertEqual(len(queuegen.ids(self.q, "incoming")), 999)
        p = self.postsuper(["-d", "ALL"])
        self.assertIn("Deleted: 1006 messages", p.stderr)
        for q in ("incoming", "deferred", "hold", "active"):
            self.assertEqual(queuegen.ids(self.q, q), [])
        # Nothing found: the summary still says so (Postfix 3.5 and later);
        # a bad ID is a warning.
        p = self.postsuper(["-d", "../../etc"])
        self.assertEqual(p.stderr, "postsuper: warning: invalid mail queue ID: ../../etc\n"
                                   "postsuper: Deleted: 0 messages\n")

    def test_delete_all_takes_maildrop_and_logs(self):
        # Postfix's default queue list for -d starts with maildrop; "-d ALL"
        # also empties the log directories, and names no message one by one.
        drop = self.add("maildrop", 3)
        dfr = self.add("deferred", 2)
        p = self.postsuper(["-d", drop[0]])
        self.assertIn(f"postsuper: {drop[0]}: removed\n", p.stderr)
        self.assertIsNone(queuegen.find(self.q, "maildrop", drop[0]))
        stray = queuegen.write_defer_log(self.q, "4B7E2A0C1", [("x@example.net", "timeout")],
                                         uid=self.owner.pw_uid, gid=self.owner.pw_gid)
        p = self.postsuper(["-d", "ALL"])
        self.assertEqual(p.stderr, "postsuper: Deleted: 4 messages\n")
        self.assertEqual(queuegen.ids(self.q, "maildrop") + queuegen.ids(self.q, "deferred"), [])
        self.assertFalse(os.path.exists(stray))
        del dfr

    def test_queue_operands_apply_to_every_operation(self):
        # postsuper -d ALL deferred hold: one trailing list of queues, for
        # each operation; clustered flags work (getopt, as Postfix).
        inc = self.add("incoming", 2)
        dfr = self.add("deferred", 2)
        hold = self.add("hold", 2)
        p = self.postsuper(["-d", "ALL", "deferred", "hold"])
        self.assertEqual(p.stderr, "postsuper: Deleted: 4 messages\n")
        self.assertEqual(len(queuegen.ids(self.q, "incoming")), 2)
        # -d by ID, limited to hold/: the incoming message stays.
        p = self.postsuper(["-d", inc[0], "hold"])
        self.assertIn("Deleted: 0 messages", p.stderr)
        self.assertIsNotNone(queuegen.find(self.q, "incoming", inc[0]))
        p = self.postsuper(["-sp"])
        self.assertEqual(p.returncode, 0)
        del dfr, hold

    def test_force_expire(self):
        dfr = self.add("deferred", 3)
        hold = self.add("hold", 2)
        p = self.postsuper(["-e", dfr[0]])
        self.assertEqual(p.stderr, f"postsuper: {dfr[0]}: expired\npostsuper: Force-expired: 1 message\n")
        mode = os.stat(queuegen.find(self.q, "deferred", dfr[0])).st_mode
        self.assertTrue(mode & stat.S_IXGRP)
        self.assertTrue(mode & stat.S_IXUSR)  # still ready
        # Marked already: not counted again.
        p = self.postsuper(["-e", dfr[0]])
        self.assertEqual(p.stderr, "postsuper: Force-expired: 0 messages\n")
        # -e leaves a held message on hold; -f releases it, due now.
        p = self.postsuper(["-e", hold[0]])
        self.assertIn("Force-expired: 1 message", p.stderr)
        self.assertIsNotNone(queuegen.find(self.q, "hold", hold[0]))
        p = self.postsuper(["-f", "ALL"])
        self.assertEqual(p.stderr, "postsuper: Force-expired: 3 messages\npostsuper: Released from hold: 2 messages\n")
        self.assertEqual(queuegen.ids(self.q, "hold"), [])
        for qid in dfr + hold:
            path = queuegen.find(self.q, "deferred", qid)
            self.assertTrue(os.stat(path).st_mode & stat.S_IXGRP, qid)
        self.assertLess(abs(os.stat(queuegen.find(self.q, "deferred", hold[1])).st_mtime - time.time()), 5)
        # mailq shows the mark ('#'), as Postfix's.
        out = self.inst.cmd("postqueue", ["-p"]).stdout
        self.assertRegex(out, re.escape(dfr[0]) + r"# +\d+ ")
        # A file still being written is not marked (a warning when named,
        # silence with ALL).
        busy = self.add("incoming", 1, ready=False)[0]
        p = self.postsuper(["-e", busy])
        self.assertIn(f"{busy}: not expired: not a complete queue file", p.stderr)
        p = self.postsuper(["-e", "ALL", "incoming"])
        self.assertEqual(p.stderr, "postsuper: Force-expired: 0 messages\n")
        self.assertFalse(os.stat(queuegen.find(self.q, "incoming", busy)).st_mode & stat.S_IXGRP)

    def test_hold_and_release(self):
        inc = self.add("incoming", 500)
        dfr = self.add("deferred", 1500)
        p = self.postsuper(["-h", "ALL"])
        self.assertIn("postsuper: Placed on hold: 2000 messages", p.stderr)
        self.assertEqual(len(queuegen.ids(self.q, "hold")), 2000)
        self.assertEqual(queuegen.ids(self.q, "incoming") + queuegen.ids(self.q, "deferred"), [])
        p = self.postsuper(["-H", inc[0]])
        self.assertIn("postsuper: Released from hold: 1 message\n", p.stderr)
        path = queuegen.find(self.q, "deferred", inc[0])
        # Released into its hashed deferred subdirectory, due now.
        self.assertEqual(os.path.dirname(path), os.path.join(self.q, "deferred", inc[0][0]))
        self.assertLess(abs(os.stat(path).st_mtime - time.time()), 5)
        p = self.postsuper(["-H", "ALL"])
        self.assertIn("Released from hold: 1999 messages", p.stderr)
        self.assertEqual(len(queuegen.ids(self.q, "deferred")), 2000)
        self.assertEqual(queuegen.ids(self.q, "hold"), [])
        # The files keep their owner (postsuper works as mail_owner).
        self.assertEqual(os.stat(queuegen.find(self.q, "deferred", dfr[0])).st_uid, self.owner.pw_uid)

    def test_requeue(self):
        self.inst.start()
        dfr = queuegen.write_message(self.q, "deferred", "alice@example.com",
                                     ["bob@example.net", "carol@example.org"], done=(1,),
                                     body_lines=["Subject: requeue me", "", "line one", "line two"],
                                     uid=self.owner.pw_uid, gid=self.owner.pw_gid, arrival=1700000000)
        log = queuegen.write_defer_log(self.q, dfr, [("bob@example.net", "timeout")],
                                       uid=self.owner.pw_uid, gid=self.owner.pw_gid)
        p = self.postsuper(["-r", dfr])
        self.assertIn("postsuper: Requeued: 1 message\n", p.stderr)
        m = re.search(re.escape(dfr) + r": requeued as (\w+)", p.stderr)
        self.assertIsNotNone(m, p.stderr)
        new = m.group(1)
        self.assertIsNone(queuegen.find(self.q, "deferred", dfr))
        self.assertIsNone(queuegen.find(self.q, "hold", dfr))  # claimed through hold/, then removed
        self.assertFalse(os.path.exists(log))
        self.assertIsNotNone(queuegen.find(self.q, "incoming", new))
        out = self.inst.cmd("postcat", ["-q", new]).stdout
        self.assertRegex(out, r"sender: alice@example.com")
        self.assertEqual(re.findall(r"(?m)^(?:recipient|done_recipient): (\S+)", out), ["bob@example.net"])
        self.assertIn("Subject: requeue me", out)
        self.assertIn("line two", out)
        # One that cannot be requeued goes back where it was.
        done = queuegen.write_message(self.q, "deferred", "alice@example.com", ["x@example.net"], done=(0,),
                                      uid=self.owner.pw_uid, gid=self.owner.pw_gid)
        p = self.postsuper(["-r", done], check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"{done}: cannot requeue: no pending recipients", p.stderr)
        self.assertIsNotNone(queuegen.find(self.q, "deferred", done))
        self.assertIsNone(queuegen.find(self.q, "hold", done))

    def test_structure_check(self):
        dfr = self.add("deferred", 20)
        # Misplaced: a hashed file at the top of deferred/.
        src = queuegen.find(self.q, "deferred", dfr[0])
        flat = os.path.join(self.q, "deferred", dfr[0])
        os.rename(src, flat)
        # A name whose inode part does not match (a restored file), with its defer log.
        src = queuegen.find(self.q, "deferred", dfr[1])
        forged = dfr[1][:5] + "FFFFFF"
        forged_path = os.path.join(self.q, "deferred", forged[0], forged)
        os.rename(src, forged_path)
        log = queuegen.write_defer_log(self.q, forged, [("r1@example.net", "timeout")],
                                       uid=self.owner.pw_uid, gid=self.owner.pw_gid)
        # IDs named beside -s are not acted on once names changed: exit 1, nothing deleted.
        p = self.postsuper(["-s", "-d", dfr[2]], check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("CHECK YOUR QUEUE IDS AND RE-ISSUE THE COMMAND", p.stderr)
        self.assertIsNotNone(queuegen.find(self.q, "deferred", dfr[2]))
        self.assertEqual(queuegen.find(self.q, "deferred", dfr[0]),
                         os.path.join(self.q, "deferred", dfr[0][0], dfr[0]))
        self.assertIn("Moved to the right subdirectory: 1 file", p.stderr)
        self.assertIn("Renamed to match inode number: 1 message", p.stderr)
        self.assertFalse(os.path.exists(forged_path))
        self.assertFalse(os.path.exists(log))
        # The new name is the old microseconds and the inode; the log went along.
        fixed = dfr[1][:5] + "%X" % os.stat(queuegen.find(self.q, "deferred", dfr[1])).st_ino
        self.assertEqual(fixed, dfr[1])
        self.assertIsNotNone(queuegen.find(self.q, "defer", fixed))
        self.assertEqual(len(queuegen.ids(self.q, "deferred")), 20)
        # Nothing left to repair: the same command now works.
        p = self.postsuper(["-s", "-d", dfr[2]])
        self.assertIn("Deleted: 1 message", p.stderr)

    def test_purge_temporary_files(self):
        old = os.path.join(self.q, "incoming", "tmp.1234.1.abc")
        new = os.path.join(self.q, "incoming", "tmp.1234.2.def")
        for p in (old, new):
            with open(p, "w") as f:
                f.write("x")
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        # Message files a writer left without the ready mark: removed after a day.
        day_ago = time.time() - 90000
        stale = {q: self.add(q, 1, ready=False)[0] for q in ("maildrop", "incoming", "active", "deferred", "hold")}
        for q, qid in stale.items():
            os.utime(queuegen.find(self.q, q, qid), (day_ago, day_ago))
        young = self.add("incoming", 1, ready=False)[0]
        complete = self.add("deferred", 1)[0]
        os.utime(queuegen.find(self.q, "deferred", complete), (day_ago, day_ago))
        p = self.postsuper(["-p"])
        self.assertIn("Deleted: 1 temporary file", p.stderr)
        self.assertIn("Deleted: 5 incomplete queue files", p.stderr)
        self.assertFalse(os.path.exists(old))
        self.assertTrue(os.path.exists(new))
        for q, qid in stale.items():
            self.assertIsNone(queuegen.find(self.q, q, qid), q)
        self.assertIsNotNone(queuegen.find(self.q, "incoming", young))
        self.assertIsNotNone(queuegen.find(self.q, "deferred", complete))
        # Plain postsuper is -s and -p.
        os.utime(queuegen.find(self.q, "incoming", young), (day_ago, day_ago))
        p = self.postsuper([])
        self.assertIn("Deleted: 1 incomplete queue file", p.stderr)

    def test_failures_set_the_exit_status(self):
        held = self.add("hold", 2)
        hold = os.path.join(self.q, "hold")
        st = os.stat(hold)
        # postsuper works as mail_owner: a hold/ it cannot write keeps the files.
        os.chown(hold, 0, 0)
        os.chmod(hold, 0o755)
        try:
            p = self.postsuper(["-d", held[0], "hold"], check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertRegex(p.stderr, r"remove .*" + re.escape(held[0]) + ": Permission denied")
            self.assertIn("1 operation failed", p.stderr)
        finally:
            os.chown(hold, st.st_uid, st.st_gid)
            os.chmod(hold, st.st_mode & 0o7777)
        self.assertIsNotNone(queuegen.find(self.q, "hold", held[0]))
        p = self.postsuper(["-d", held[0]])
        self.assertIn("Deleted: 1 message", p.stderr)

    def test_root_only_and_usage(self):
        p = self.postsuper(["-d", "ALL"], check=False, user=pwd.getpwnam("nobody"))
        self.assertNotEqual(p.returncode, 0)
        if "Permission denied" not in p.stderr:
            self.assertIn("use of this command is reserved for the superuser", p.stderr)
        # Postfix's postsuper exits 1 for every fatal error.
        p = self.postsuper(["-x"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("usage: postsuper", p.stderr)
        p = self.postsuper(["-d", "ALL", "corrupt"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("invalid directory name: corrupt", p.stderr)
        # maildrop/ mail has not been through cleanup: it is never held,
        # expired or requeued (a warning says so; nothing fails).
        drop = self.add("maildrop", 1)[0]
        for op, summary in (("-h", "Placed on hold: 0 messages"), ("-r", "Requeued: 0 messages"),
                            ("-e", "Force-expired: 0 messages")):
            p = self.postsuper([op, "ALL", "maildrop"])
            self.assertIn("has not been through pickup and cleanup", p.stderr)
            self.assertIn(summary, p.stderr)
        self.assertIsNotNone(queuegen.find(self.q, "maildrop", drop))


if __name__ == "__main__":
    unittest.main()
