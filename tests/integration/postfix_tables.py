"""Shared by the tests of the indexed table types that Postfix also builds
(test_lmdb_table.py, test_cdb_table.py): Postfix's and Postern's postmap and
postalias on one configuration directory, and a running instance whose
alias_maps is such a table."""
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import unittest
import uuid

from harness import SBIN, Instance, free_port, is_root, queue_master_cf, wait_for
from sink import Sink
from test_end_to_end import smtp_up

POSTFIX_POSTMAP = "/usr/sbin/postmap"
POSTFIX_POSTALIAS = "/usr/sbin/postalias"
POSTFIX_POSTCONF = "/usr/sbin/postconf"
OUR_POSTMAP = os.path.join(SBIN, "postmap")
OUR_POSTALIAS = os.path.join(SBIN, "postalias")


def postfix_supports(table_type, config_dir):
    """Whether Debian's Postfix here builds `table_type` (postconf -m)."""
    if not all(os.path.exists(p) for p in (POSTFIX_POSTMAP, POSTFIX_POSTALIAS, POSTFIX_POSTCONF)):
        return False
    p = subprocess.run([POSTFIX_POSTCONF, "-c", config_dir, "-m"], capture_output=True, text=True, timeout=30)
    return p.returncode == 0 and table_type in p.stdout.split()


class LikePostfix(unittest.TestCase):
    """Base of the side-by-side tests: TYPE names the table type, SOURCE the
    default source text. One scratch directory and main.cf for the class."""
    TYPE = None
    SOURCE = ""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=f"postern-{cls.TYPE}-")
        os.chmod(cls.tmp, 0o755)
        cls.conf = os.path.join(cls.tmp, "conf")
        os.mkdir(cls.conf)
        with open(os.path.join(cls.conf, "main.cf"), "w") as f:
            f.write("myhostname = mta.test\n")
        if not postfix_supports(cls.TYPE, cls.conf):
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise unittest.SkipTest(f"Postfix's {cls.TYPE} support (postfix-{cls.TYPE}) is not installed")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def source(self, name, text=None):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(self.SOURCE if text is None else text)
        return path

    def run_tool(self, prog, args, input=None):
        p = subprocess.run([prog, "-c", self.conf] + list(args), capture_output=True, text=True,
                           input=input, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def build(self, prog, spec, opts=()):
        rc, out, err = self.run_tool(prog, list(opts) + [spec])
        self.assertEqual(rc, 0, f"{prog} {' '.join(opts)} {spec}: {err}")
        return err


def check_alias_maps_delivery(test, table_type, tmp):
    """alias_maps = TYPE:aliases (built by postalias) on a running instance:
    local expands one alias to two remote addresses and delivers another to
    a file, as the owner of the table's file (root only), as with Postfix."""
    sink = Sink()
    test.addCleanup(sink.stop)
    out = os.path.join(tmp, "out")
    os.mkdir(out)
    os.chmod(out, 0o1777)
    mbox = os.path.join(out, "file.mbox")
    aliases = os.path.join(tmp, "aliases")
    with open(aliases, "w") as f:
        f.write(f"team: ann@remote.test,\n  bob@remote.test\nFiler: {mbox}\n")
    port = free_port()
    main_cf = f"""
myhostname = mta.test
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink.port}
alias_maps = {table_type}:{aliases}
alias_database = {table_type}:{aliases}
"""
    inst = Instance(table_type, main_cf_extra=main_cf, master_cf=queue_master_cf(
        port, "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\nlocal unix - n n - - local\n"))
    test.addCleanup(inst.cleanup)
    inst.cmd("postalias", [f"{table_type}:{aliases}"])
    owner = None
    if is_root():
        # Root-owned tables would mean default_privs.
        owner = pwd.getpwnam("daemon")
        os.chown(f"{aliases}.{table_type}", owner.pw_uid, owner.pw_gid)
    inst.start()
    wait_for(lambda: smtp_up(port), timeout=15, what="smtpd listening")
    token = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("alice@sender.test", ["team@mta.test", "FILER@mta.test"], f"Subject: {token}\r\n\r\n{token}\r\n")
    sink.wait_count(1, timeout=30)
    got = [m for m in sink.messages if token.encode() in m[2]]
    test.assertEqual(sorted(r for m in got for r in m[1]), ["ann@remote.test", "bob@remote.test"])

    def delivered():
        try:
            with open(mbox) as f:
                return token in f.read()
        except FileNotFoundError:
            return False

    wait_for(delivered, timeout=30, what="the message in the alias's file")
    if owner is not None:
        test.assertEqual(os.stat(mbox).st_uid, owner.pw_uid)
    return inst, mbox
