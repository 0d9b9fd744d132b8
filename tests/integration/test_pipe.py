"""pipe(8): delivery to external commands through a real master, smtpd,
cleanup, qmgr and the pipe agent on a scratch instance.

transport_maps routes each test domain to a pipe service; the commands are
small shell scripts in the scratch directory that record their arguments
and standard input, or exit with a given status. When the tests run as
root the commands run as "nobody", else as the invoking user.
"""
import os
import re
import pwd
import smtplib
import unittest

from harness import LIBEXEC, Instance, free_port, queue_master_cf, wait_for

HOST = "mx.test.example"
INST = None
OUT = None
PORT = None


def setUpModule():
    global INST, OUT, PORT
    INST = Instance("pipe")
    OUT = os.path.join(INST.root, "out")
    os.makedirs(OUT)
    os.chmod(OUT, 0o777)
    record = os.path.join(INST.root, "record.sh")
    with open(record, "w") as f:
        f.write('#!/bin/sh\nout="$1"; shift\n{ printf "ARGS:"; for a in "$@"; do printf " [%s]" "$a"; done; '
                'echo; cat; } > "$out"\n')
    fail = os.path.join(INST.root, "fail.sh")
    with open(fail, "w") as f:
        f.write('#!/bin/sh\ncat > /dev/null\nexit "$1"\n')
    chatty = os.path.join(INST.root, "chatty.sh")
    with open(chatty, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\nhead -c 3000 /dev/zero | tr '\\000' x\nexit 1\n")
    killed = os.path.join(INST.root, "killed.sh")
    with open(killed, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\nkill -TERM $$\n")
    for p in (record, fail, chatty, killed):
        os.chmod(p, 0o755)
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
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
transport_maps = inline:{{ {{one.test = record1}}, {{many.test = recordn}}, {{later.test = tempfail}},
    {{nouser.test = nouser}}, {{small.test = small}}, {{nolimit.test = nolimit}}, {{chatty.test = chatty}},
    {{killed.test = killed}} }}
record1_destination_recipient_limit = 1
""")
    PORT = free_port()
    INST.write_master_cf(queue_master_cf(PORT, f"""record1 unix - n n - - pipe flags=DORhu user={user} argv={record} {OUT}/${{queue_id}}.${{mailbox}} ${{sender}} ${{recipient}} ${{user}} ${{extension}} ${{domain}} ${{nexthop}}
recordn unix - n n - - pipe flags=R user={user} argv={record} {OUT}/${{queue_id}}.many ${{recipient}}
tempfail unix - n n - - pipe user={user} argv={fail} 75
nouser unix - n n - - pipe user={user} argv={fail} 67
small unix - n n - - pipe size=100 user={user} argv={record} {OUT}/small
nolimit unix - n n - - pipe size=0 user={user} argv={record} {OUT}/nolimit
chatty unix - n n - - pipe user={user} argv={chatty}
killed unix - n n - - pipe user={user} argv={killed}
"""))
    INST.start()


def tearDownModule():
    if INST:
        INST.cleanup()


def send(rcpts, body="hello", headers="", sender="Sender@Client.Test"):
    with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as s:
        s.sendmail(sender, rcpts, f"Subject: pipe\r\n{headers}\r\n{body}\r\n")


class PipeTest(unittest.TestCase):
    def test_one_recipient_with_headers_and_macros(self):
        send(["Bob+Tag@One.Test"])
        m = INST.wait_log(r"(\w+): to=<Bob\+Tag@One\.Test>, relay=record1, .*dsn=2\.0\.0, "
                          r"status=sent \(delivered via record1 service\)", 30)
        path = os.path.join(OUT, m.group(1) + ".bob+tag")
        wait_for(lambda: os.path.exists(path), 10, what="the command's output")
        with open(path) as f:
            text = f.read()
        # flags=hu fold the recipient's parts; ${sender} keeps its case.
        self.assertTrue(text.startswith("ARGS: [Sender@Client.Test] [bob+tag@one.test] [bob] [tag] [one.test] "
                                        "[one.test]\n"), text)
        self.assertIn("Return-Path: <Sender@Client.Test>\n", text)
        self.assertIn("X-Original-To: Bob+Tag@One.Test\n", text)
        self.assertIn("Delivered-To: Bob+Tag@One.Test\n", text)
        self.assertIn("Subject: pipe\n", text)
        self.assertTrue(text.endswith("hello\n"), text)

    def test_null_sender_replacement(self):
        # pipe(8): null_sender (default MAILER-DAEMON) stands for <> in
        # ${sender}, the From_ line and Return-Path:.
        send(["Null@One.Test"], sender="")
        m = INST.wait_log(r"(\w+): to=<Null@One\.Test>, relay=record1, .*status=sent", 30)
        path = os.path.join(OUT, m.group(1) + ".null")
        wait_for(lambda: os.path.exists(path), 10, what="the command's output")
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith("ARGS: [MAILER-DAEMON] [null@one.test]"), text)
        self.assertIn("Return-Path: <MAILER-DAEMON>\n", text)

    def test_flag_d_bounces_a_forwarding_loop(self):
        send(["Looped@One.Test"], headers="Delivered-To: looped@one.test\r\n")
        m = INST.wait_log(r"(\w+): to=<Looped@One\.Test>, relay=record1, .*dsn=5\.4\.6, "
                          r"status=bounced \(mail forwarding loop for Looped@One\.Test\)", 30)
        # The command never ran.
        self.assertFalse(os.path.exists(os.path.join(OUT, m.group(1) + ".looped")))

    @unittest.skipUnless(os.geteuid() == 0, "privileges are only separated under root")
    def test_agent_works_as_mail_owner_between_commands(self):
        send(["priv@nolimit.test"])
        INST.wait_log(r"to=<priv@nolimit\.test>, relay=nolimit, .*status=sent", 30)
        owner = pwd.getpwnam(INST.cmd("postconf", ["-h", "mail_owner"]).stdout.strip())
        pids = INST.service_pids("nolimit")
        self.assertTrue(pids)
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                ids = {line.split()[0]: line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))}
            # Real and saved uid root (to start the next command), effective mail_owner.
            self.assertEqual(ids["Uid:"][:3], ["0", str(owner.pw_uid), "0"])
            self.assertEqual(ids["Gid:"][1], str(owner.pw_gid))

    def test_size_zero_is_no_limit(self):
        send(["x@nolimit.test"], body="y" * 500)
        INST.wait_log(r"to=<x@nolimit\.test>, relay=nolimit, .*status=sent", 30)

    def test_recipients_share_one_run(self):
        send(["a@many.test", "b@many.test"])
        m = INST.wait_log(r"(\w+): to=<b@many\.test>, relay=recordn, .*status=sent", 30)
        path = os.path.join(OUT, m.group(1) + ".many")
        wait_for(lambda: os.path.exists(path), 10, what="the command's output")
        with open(path) as f:
            first = f.readline()
        self.assertEqual(first, "ARGS: [a@many.test] [b@many.test]\n")

    def test_exit_status_decides(self):
        send(["x@later.test"])
        INST.wait_log(r"to=<x@later\.test>, relay=tempfail, .*dsn=4\.3\.0, status=deferred", 30)
        send(["x@nouser.test"])
        INST.wait_log(r"to=<x@nouser\.test>, relay=nouser, .*dsn=5\.1\.1, status=bounced", 30)

    def test_long_command_output_still_bounces(self):
        # 3,000 bytes of output: the reply's text is cut to fit, so qmgr
        # gets the bounce (and removes the message) instead of a broken reply.
        send(["x@chatty.test"])
        m = INST.wait_log(r"(\w+): to=<x@chatty\.test>, relay=chatty, .*dsn=5\.3\.0, status=bounced", 30)
        INST.wait_log(re.escape(m.group(1)) + r": removed", 30)

    def test_signal_death_defers(self):
        # As Postfix 3: a command killed by a signal is tried again.
        send(["x@killed.test"])
        INST.wait_log(r"to=<x@killed\.test>, relay=killed, .*dsn=4\.3\.0, status=deferred "
                      r"\(Command died with signal 15", 30)

    def test_size_limit(self):
        send(["x@small.test"], body="x" * 500)
        INST.wait_log(r"to=<x@small\.test>, relay=small, .*dsn=5\.2\.3, status=bounced \(message too large\)",
                      30)
        self.assertFalse(os.path.exists(os.path.join(OUT, "small")))


if __name__ == "__main__":
    unittest.main()
