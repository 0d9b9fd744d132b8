"""sqlite: tables (sqlite_table(5)) on a database built with Python's sqlite3.

- Postern's postmap -q and Postfix's (Debian's postfix-sqlite) give the same
  answers and exit codes for the same parameter files: query expansions,
  result_format, domain, expansion_limit, the legacy query parameters;
- virtual_alias_maps in sqlite: on a running instance rewrites recipients
  (one alias to two addresses) and its unknown users bounce as with any
  virtual alias table; smtpd uses the same table to reject unknown
  recipients at RCPT.
"""
import os
import shutil
import smtplib
import sqlite3
import subprocess
import tempfile
import unittest
import uuid

from harness import Instance, SBIN, SmtpClient, free_port, queue_master_cf, wait_for
from sink import Sink

POSTFIX_POSTMAP = "/usr/sbin/postmap"

ROWS = [
    ("info@example.com", "joe@remote.test", 1),
    ("sales@example.com", "ann@remote.test", 1),
    ("sales@example.com", "bob@remote.test", 1),
    ("old@example.com", "gone@remote.test", 0),
    ("o'brien@example.com", "quoted@remote.test", 1),
    ("@catchall.test", "all@remote.test", 1),
    ("postmaster", "root@remote.test", 1),
]

KEYS = ["info@example.com", "INFO@Example.COM", "sales@example.com", "old@example.com",
        "o'brien@example.com", "x' OR '1'='1", "@catchall.test", "nobody@example.com", "postmaster",
        "user@mail.example.com", "@example.com"]

VARIANTS = {
    "plain": "query = SELECT goto FROM alias WHERE address = '%s' AND active = 1\n",
    "parts": "query = SELECT goto FROM alias WHERE address = '%u@%d' OR address = '%u'\n",
    "labels": "query = SELECT '%3-%2-%1' FROM alias WHERE address = 'info@example.com'\n",
    "format": "query = SELECT goto FROM alias WHERE address = '%s'\n"
              "result_format = smtp:[%d] %U %1\n",
    "domain": "query = SELECT goto FROM alias WHERE address = '%s'\ndomain = example.com\n",
    "limit": "query = SELECT goto FROM alias WHERE address = '%s'\nexpansion_limit = 1\n",
    "legacy": "table = alias\nselect_field = goto\nwhere_field = address\n"
              "additional_conditions = AND active = 1\n",
}


class SqlTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-sql-")
        os.chmod(cls.tmp, 0o755)
        cls.db = os.path.join(cls.tmp, "aliases.sqlite")
        con = sqlite3.connect(cls.db)
        con.execute("CREATE TABLE alias (address TEXT, goto TEXT, active INTEGER)")
        con.executemany("INSERT INTO alias VALUES (?, ?, ?)", ROWS)
        con.commit()
        con.close()
        os.chmod(cls.db, 0o644)
        cls.pfdir = os.path.join(cls.tmp, "postfix")
        os.mkdir(cls.pfdir)
        open(os.path.join(cls.pfdir, "main.cf"), "w").close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cf(self, name, text):
        path = os.path.join(self.tmp, name + ".cf")
        with open(path, "w") as f:
            f.write(f"dbpath = {self.db}\n" + text)
        return path

    def query(self, postmap, key, cf):
        p = subprocess.run([postmap, "-c", self.pfdir, "-q", key, "sqlite:" + cf],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout

    @unittest.skipUnless(os.path.exists("/usr/lib/postfix/postfix-sqlite.so"),
                         "Postfix's sqlite support (postfix-sqlite) not installed")
    def test_same_answers_as_postfix(self):
        found = 0
        for name, text in VARIANTS.items():
            cf = self.cf(name, text)
            for key in KEYS:
                with self.subTest(variant=name, key=key):
                    theirs = self.query(POSTFIX_POSTMAP, key, cf)
                    ours = self.query(os.path.join(SBIN, "postmap"), key, cf)
                    self.assertEqual(ours, theirs)
                    found += ours[0] == 0
        # Not a comparison of two empty answers.
        self.assertGreater(found, 20)

    def test_expansion_limit_is_an_error(self):
        rc, out = self.query(os.path.join(SBIN, "postmap"), "sales@example.com", self.cf("limit", VARIANTS["limit"]))
        self.assertEqual((rc, out), (1, ""))

    def test_virtual_alias_maps_on_a_running_instance(self):
        sink = Sink()
        port = free_port()
        cf = self.cf("virtual", "query = SELECT goto FROM alias WHERE address = '%s' AND active = 1\n")
        main_cf = f"""
myhostname = mta.test
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink.port}
virtual_alias_domains = example.com
virtual_alias_maps = sqlite:{cf}
"""
        inst = Instance("sql", main_cf_extra=main_cf,
                        master_cf=queue_master_cf(port, "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"))
        try:
            inst.start()

            def up():
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=2) as s:
                        s.noop()
                    return True
                except OSError:
                    return False

            wait_for(up, timeout=15, what="smtpd listening")
            token = uuid.uuid4().hex
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("alice@sender.test", ["sales@example.com"], f"Subject: {token}\r\n\r\n{token}\r\n")
            sink.wait_count(1, timeout=30)
            got = [m for m in sink.messages if token.encode() in m[2]]
            self.assertEqual(sorted(r for m in got for r in m[1]), ["ann@remote.test", "bob@remote.test"])
            # An address of the domain that the table does not know is
            # refused at RCPT, as with any virtual alias table.
            c = SmtpClient(port)
            try:
                c.ask("EHLO client.test")
                c.ask("MAIL FROM:<alice@sender.test>")
                r = c.ask("RCPT TO:<old@example.com>")
                self.assertTrue(r.startswith("550 5.1.1 <old@example.com>: Recipient address rejected"), r)
                c.ask("QUIT")
            finally:
                c.close()
        finally:
            inst.cleanup()
            sink.stop()


if __name__ == "__main__":
    unittest.main()
