"""local(8) hands deliveries on: mailbox_transport(_maps) and fallback_transport(_maps).

A real instance (every daemon started by the master) whose local agent hands
mailbox delivery to the lmtp agent, which talks LMTP to tests/integration/
sink.py (the way an admin points Postfix at Dovecot's LMTP server), and hands
unknown users to the smtp agent and a second sink. Checks what an admin sees:
the mail at the far side with the right recipient, one status line per
recipient from the agent that delivered it (never a second one from local),
orig_to= for alias expansions, bounces and deferrals carried back.
"""
import os
import re
import smtplib
import unittest
import uuid

from harness import Instance, free_port, wait_for
from sink import Sink
from test_end_to_end import HOST, main_cf_for, master_cf, queue_files, smtp_up


def start_instance(name, port, main_cf, extra_services=""):
    inst = Instance(name, main_cf_extra=main_cf, master_cf=master_cf(port) + extra_services)
    inst.start()
    wait_for(lambda: smtp_up(port), timeout=15, what="smtpd listening")
    return inst


def stop(inst, sinks):
    try:
        inst.cleanup()
    finally:
        for s in sinks:
            s.stop()


class MailboxTransport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lmtp = Sink(lmtp=True)
        cls.relay = Sink()
        cls.port = free_port()
        main_cf = main_cf_for(cls.relay.port) + (
            # Every address at $myhostname is taken: the LMTP server decides.
            "local_recipient_maps =\n"
            f"mailbox_transport = lmtp:inet:127.0.0.1:{cls.lmtp.port}\n"
            # Per user, with and without a nexthop of its own.
            f"mailbox_transport_maps = inline:{{ {{boxed = lmtp:inet:127.0.0.1:{cls.lmtp.port}}},"
            " {nowhere = lmtp:inet:127.0.0.1:1}, {broken = bad/transport}, {selfloop = local} }\n"
            "alias_maps = inline:{ {team = alice, bob} }\n")
        cls.inst = start_instance("mbxtr", cls.port, main_cf, "lmtp unix - - n - - lmtp\n")
        cls.sinks = [cls.lmtp, cls.relay]

    @classmethod
    def tearDownClass(cls):
        stop(cls.inst, cls.sinks)

    def send(self, rcpts, token, sender="dave@sender.test"):
        msg = f"From: <{sender}>\r\nSubject: handed on {token}\r\n\r\nbody {token}\r\n"
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail(sender, rcpts, msg)

    def at(self, sink, token, n=1):
        return wait_for(lambda: (lambda m: m if len(m) >= n else None)(
            [m for m in list(sink.messages) if token.encode() in m[2]]), 30, what=f"{n} message(s) with {token}")

    def lines(self, rcpt):
        return [l for l in self.inst.maillog().splitlines() if f"to=<{rcpt}>" in l]

    def test_mailbox_transport_delivers_over_lmtp(self):
        token = uuid.uuid4().hex
        self.send([f"carol@{HOST}"], token)
        (msg,) = self.at(self.lmtp, token)
        self.assertEqual(msg[1], [f"carol@{HOST}"])
        self.inst.wait_log(rf"postern/lmtp\[\d+\]: \w+: to=<carol@{HOST}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:"
                           rf"{self.lmtp.port}, .*status=sent \(250 2\.0\.0 <carol@{HOST}> Ok")
        # The lmtp agent's line is the only one: local does not log it again.
        self.assertEqual(len(self.lines(f"carol@{HOST}")), 1, self.lines(f"carol@{HOST}"))

    def test_alias_expansion_is_handed_on_with_orig_to(self):
        token = uuid.uuid4().hex
        self.send([f"team@{HOST}"], token)
        msgs = self.at(self.lmtp, token, 2)
        self.assertEqual(sorted(r for m in msgs for r in m[1]), [f"alice@{HOST}", f"bob@{HOST}"])
        for u in ("alice", "bob"):
            self.inst.wait_log(rf"postern/lmtp\[\d+\]: \w+: to=<{u}@{HOST}>, orig_to=<team@{HOST}>, "
                               rf".*status=sent")

    def test_maps_entry_and_its_failures(self):
        token = uuid.uuid4().hex
        self.send([f"boxed+tag@{HOST}"], token)  # looked up without the extension
        (msg,) = self.at(self.lmtp, token)
        self.assertEqual(msg[1], [f"boxed+tag@{HOST}"])
        # An LMTP server that is down: the lmtp agent defers, the message stays.
        self.send([f"nowhere@{HOST}"], uuid.uuid4().hex)
        self.inst.wait_log(rf"postern/lmtp\[\d+\]: \w+: to=<nowhere@{HOST}>, .*status=deferred")
        # A transport name that cannot be one: deferred by local, with a warning.
        self.send([f"broken@{HOST}"], uuid.uuid4().hex)
        self.inst.wait_log(rf"postern/local\[\d+\]: \w+: to=<broken@{HOST}>, relay=local, .*dsn=4\.3\.5, "
                           r"status=deferred \(mail system configuration error\)")
        self.assertRegex(self.inst.maillog(), r"postern/local\[\d+\]: warning: \w+: mail transport "
                                              r"\"bad/transport\": \"bad/transport\" is not a transport name")
        # local itself: it would hand the mail back to itself for ever.
        self.send([f"selfloop@{HOST}"], uuid.uuid4().hex)
        self.inst.wait_log(rf"postern/local\[\d+\]: \w+: to=<selfloop@{HOST}>, relay=local, .*dsn=4\.3\.5, "
                           r"status=deferred \(mail system configuration error\)")
        self.assertRegex(self.inst.maillog(), r"warning: \w+: mail transport \"local\" is this local service")
        # Neither can ever be delivered here. qmgr may move a file between
        # the listing and the unlink (active/ -> deferred/): list again.
        for _ in range(20):
            left = queue_files(self.inst, "deferred", "active", "incoming")
            if not left:
                break
            for f in left:
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass

    def test_remote_rejection_bounces(self):
        token = uuid.uuid4().hex
        self.send([f"bad-user@{HOST}"], token)  # sink.py refuses recipients starting "bad"
        self.inst.wait_log(rf"postern/lmtp\[\d+\]: \w+: to=<bad-user@{HOST}>, .*dsn=5\.1\.1, status=bounced")
        # The bounce goes back to the (remote) sender through the relay sink
        # (the token is in the returned headers).
        bounce = wait_for(lambda: [m for m in list(self.relay.messages) if m[0] == "" and token.encode() in m[2]],
                          30, what="the bounce at the relay sink")
        self.assertEqual(bounce[0][1], ["dave@sender.test"])


class FallbackTransport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Sink()
        cls.hub = Sink()
        cls.port = free_port()
        main_cf = main_cf_for(cls.relay.port) + (
            "local_recipient_maps =\n"
            f"fallback_transport = smtp:[127.0.0.1]:{cls.hub.port}\n"
            "fallback_transport_maps = inline:{ {special = error:5.7.1 not here} }\n"
            "luser_relay = never-used@sender.test\n")
        cls.inst = start_instance("fbtr", cls.port, main_cf)
        cls.sinks = [cls.relay, cls.hub]

    @classmethod
    def tearDownClass(cls):
        stop(cls.inst, cls.sinks)

    def send(self, rcpt, token):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("dave@sender.test", [rcpt], f"Subject: fallback\r\n\r\nbody {token}\r\n")

    def test_unknown_user_goes_to_the_fallback_transport(self):
        token = uuid.uuid4().hex
        self.send(f"nosuchuser-xyz@{HOST}", token)
        msg = wait_for(lambda: [m for m in list(self.hub.messages) if token.encode() in m[2]], 30,
                       what="the message at the hub")
        self.assertEqual(msg[0][1], [f"nosuchuser-xyz@{HOST}"])
        self.inst.wait_log(rf"postern/smtp\[\d+\]: \w+: to=<nosuchuser-xyz@{HOST}>, "
                           rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{self.hub.port}, .*status=sent")
        # Before luser_relay: nothing went there.
        self.assertFalse([m for m in list(self.relay.messages) if token.encode() in m[2]])

    def test_maps_entry_wins(self):
        self.send(f"special@{HOST}", uuid.uuid4().hex)
        self.inst.wait_log(rf"postern/error\[\d+\]: \w+: to=<special@{HOST}>, .*dsn=5\.7\.1, "
                           r"status=bounced \(not here\)")


if __name__ == "__main__":
    unittest.main()
