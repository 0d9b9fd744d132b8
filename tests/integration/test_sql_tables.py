"""SQL tables: sqlite: (sqlite_table(5)) on a database built with Python's
sqlite3, and mysql: (mysql_table(5)) against a MariaDB server started here
(Debian's mariadb-server, on 127.0.0.1 and a private socket).

- Postern's postmap -q and Postfix's (Debian's postfix-sqlite and
  postfix-mysql) give the same answers and exit codes for the same parameter
  files: query expansions, result_format, domain, expansion_limit, the legacy
  query parameters; for MySQL also stored procedures, require_result_set and
  a server that is down;
- virtual_alias_maps in such a table on a running instance rewrites
  recipients (one alias to two addresses), and smtpd uses the same table to
  reject unknown recipients of the domain at RCPT.
"""
import os
import shutil
import smtplib
import sqlite3
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import Instance, SBIN, SmtpClient, free_port, queue_master_cf, wait_for
from test_end_to_end import smtp_up
from test_tls import make_ca_chain
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

def compare_with_postfix(test, kind, cfs, keys):
    """postmap -q KEY kind:CF with Postern's and Postfix's postmap for every
    parameter file (name -> path) and key: the same exit code and output.
    Returns how many answers were found (rc 0)."""
    # Postfix's first lookup in a parameter file changed less than about
    # two seconds ago waits that long; one pause for all of them instead.
    time.sleep(2.5)
    found = 0
    for name, cf in cfs.items():
        for key in keys:
            with test.subTest(variant=name, key=key):
                theirs = test.query(POSTFIX_POSTMAP, key, cf)
                ours = test.query(os.path.join(SBIN, "postmap"), key, cf)
                test.assertEqual(ours, theirs)
                found += ours[0] == 0
    return found


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
        cfs = {name: self.cf(name, text) for name, text in VARIANTS.items()}
        # Not a comparison of two empty answers.
        self.assertGreater(compare_with_postfix(self, "sqlite", cfs, KEYS), 20)

    def test_expansion_limit_is_an_error(self):
        rc, out = self.query(os.path.join(SBIN, "postmap"), "sales@example.com", self.cf("limit", VARIANTS["limit"]))
        self.assertEqual((rc, out), (1, ""))

    def test_virtual_alias_maps_on_a_running_instance(self):
        cf = self.cf("virtual", "query = SELECT goto FROM alias WHERE address = '%s' AND active = 1\n")
        run_virtual_alias_flow(self, "sqlite:" + cf)


def run_virtual_alias_flow(test, spec):
    """A running instance with virtual_alias_maps = spec: an alias with two
    targets is relayed to both, an unknown address is refused at RCPT."""
    sink = Sink()
    port = free_port()
    main_cf = f"""
myhostname = mta.test
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink.port}
virtual_alias_domains = example.com
virtual_alias_maps = {spec}
"""
    inst = Instance("sql", main_cf_extra=main_cf,
                    master_cf=queue_master_cf(port, "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"))
    try:
        inst.start()
        wait_for(lambda: smtp_up(port), timeout=15, what="smtpd listening")
        token = uuid.uuid4().hex
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("alice@sender.test", ["sales@example.com"], f"Subject: {token}\r\n\r\n{token}\r\n")
        sink.wait_count(1, timeout=30)
        got = [m for m in sink.messages if token.encode() in m[2]]
        test.assertEqual(sorted(r for m in got for r in m[1]), ["ann@remote.test", "bob@remote.test"])
        # An address of the domain that the table does not know is
        # refused at RCPT, as with any virtual alias table.
        c = SmtpClient(port)
        try:
            c.ask("EHLO client.test")
            c.ask("MAIL FROM:<alice@sender.test>")
            r = c.ask("RCPT TO:<old@example.com>")
            test.assertTrue(r.startswith("550 5.1.1 <old@example.com>: Recipient address rejected"), r)
            c.ask("QUIT")
        finally:
            c.close()
    finally:
        inst.cleanup()
        sink.stop()


MARIADB_SETUP = """
CREATE DATABASE mail;
CREATE USER 'postern'@'%' IDENTIFIED BY 'secret pw';
CREATE USER 'postern'@'localhost' IDENTIFIED BY 'secret pw';
GRANT SELECT, EXECUTE ON mail.* TO 'postern'@'%';
GRANT SELECT, EXECUTE ON mail.* TO 'postern'@'localhost';
CREATE TABLE mail.alias (address VARCHAR(255), goto VARCHAR(255), active INT);
CREATE PROCEDURE mail.lookup(IN k VARCHAR(255)) READS SQL DATA SQL SECURITY INVOKER
  SELECT goto FROM mail.alias WHERE address = k;
CREATE PROCEDURE mail.nothing(IN k VARCHAR(255)) READS SQL DATA SQL SECURITY INVOKER
  SET @x = k;
DELIMITER //
CREATE PROCEDURE mail.two(IN k VARCHAR(255)) READS SQL DATA SQL SECURITY INVOKER
  BEGIN SELECT 'a'; SELECT 'b'; END//
DELIMITER ;
"""


@unittest.skipUnless(shutil.which("mariadbd") and shutil.which("mariadb-install-db"),
                     "MariaDB server not installed (scripts/install-deps.sh --test installs it)")
class MysqlTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-mysql-")
        os.chmod(cls.tmp, 0o755)
        data = os.path.join(cls.tmp, "data")
        cls.sock = os.path.join(cls.tmp, "sock")
        cls.port = free_port()
        user = ["--user=root"] if os.geteuid() == 0 else []
        # TLS for the tls_* parameters: a CA and a server certificate for
        # 127.0.0.1, and a second CA that signed nothing of it.
        certs, other = os.path.join(cls.tmp, "certs"), os.path.join(cls.tmp, "other")
        os.mkdir(certs)
        os.mkdir(other)
        _, cls.ca = make_ca_chain(certs, san="IP:127.0.0.1")
        _, cls.other_ca = make_ca_chain(other)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"] + user,
                       check=True, capture_output=True, timeout=120)
        cls.server = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={cls.sock}", f"--port={cls.port}",
             "--bind-address=127.0.0.1", "--skip-log-bin", f"--pid-file={cls.tmp}/pid",
             f"--log-error={cls.tmp}/error.log", f"--ssl-ca={cls.ca}",
             f"--ssl-cert={certs}/leaf.crt", f"--ssl-key={certs}/leaf.key"] + user,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: cls.sql("SELECT 1").returncode == 0, timeout=60, what="MariaDB up")
            rows = ",".join("('{}','{}',{})".format(a.replace("'", "''"), g, n) for a, g, n in ROWS)
            p = cls.sql(MARIADB_SETUP + f"INSERT INTO mail.alias VALUES {rows};")
            if p.returncode != 0:
                raise AssertionError(p.stderr)
        except BaseException:
            cls.stop_server()
            raise
        cls.pfdir = os.path.join(cls.tmp, "postfix")
        os.mkdir(cls.pfdir)
        open(os.path.join(cls.pfdir, "main.cf"), "w").close()

    @classmethod
    def sql(cls, text):
        return subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={cls.sock}", "-e", text],
                              capture_output=True, text=True, timeout=30)

    @classmethod
    def stop_server(cls):
        cls.server.terminate()
        try:
            cls.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cf(self, name, text, hosts=None):
        path = os.path.join(self.tmp, name + ".cf")
        hosts = hosts or f"inet:127.0.0.1:{self.port}"
        with open(path, "w") as f:
            f.write(f"hosts = {hosts}\nuser = postern\npassword = secret pw\ndbname = mail\n" + text)
        return path

    def query(self, postmap, key, cf):
        p = subprocess.run([postmap, "-c", self.pfdir, "-q", key, "mysql:" + cf],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout

    def compare(self, variants, keys):
        return compare_with_postfix(self, "mysql", {n: self.cf(n, t) for n, t in variants.items()}, keys)

    @unittest.skipUnless(os.path.exists("/usr/lib/postfix/postfix-mysql.so"),
                         "Postfix's MySQL support (postfix-mysql) not installed")
    def test_same_answers_as_postfix(self):
        self.assertGreater(self.compare(VARIANTS, KEYS), 20)
        procedures = {
            "call": "query = CALL lookup('%s')\n",
            "call-format": "query = CALL lookup('%s')\nresult_format = <%s>\n",
            "no-result-set": "query = CALL nothing('%s')\n",
            "no-result-set-ok": "query = CALL nothing('%s')\nrequire_result_set = no\n",
            "two-result-sets": "query = CALL two('%s')\n",
            "bad-sql": "query = SELEKT goto FROM alias WHERE address = '%s'\n",
            "two-columns": "query = SELECT goto, address FROM alias WHERE address = '%s'\n",
        }
        self.assertGreaterEqual(self.compare(procedures, ["sales@example.com", "nobody@example.com"]), 3)

    @unittest.skipUnless(os.path.exists("/usr/lib/postfix/postfix-mysql.so"),
                         "Postfix's MySQL support (postfix-mysql) not installed")
    def test_server_down_like_postfix(self):
        cf = self.cf("down", "query = SELECT goto FROM alias WHERE address = '%s'\n",
                     hosts=f"inet:127.0.0.1:{free_port()}")
        theirs = self.query(POSTFIX_POSTMAP, "info@example.com", cf)
        ours = self.query(os.path.join(SBIN, "postmap"), "info@example.com", cf)
        self.assertEqual(ours, theirs)
        self.assertEqual(ours, (1, ""))

    def test_unix_socket(self):
        cf = self.cf("sock", "query = SELECT goto FROM alias WHERE address = '%s'\n", hosts=f"unix:{self.sock}")
        self.assertEqual(self.query(os.path.join(SBIN, "postmap"), "info@example.com", cf),
                         (0, "joe@remote.test\n"))

    def test_virtual_alias_maps_on_a_running_instance(self):
        cf = self.cf("virtual", "query = SELECT goto FROM alias WHERE address = '%s' AND active = 1\n")
        run_virtual_alias_flow(self, "mysql:" + cf)

    def test_tls(self):
        # The answer is the session's cipher: empty (so "not found") in
        # plain text.
        cipher = ("query = SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
                  " WHERE VARIABLE_NAME = 'SSL_CIPHER' AND '%s' <> ''\n")
        postmap = os.path.join(SBIN, "postmap")
        self.assertEqual(self.query(postmap, "k", self.cf("plain-text", cipher)), (1, ""))
        rc, out = self.query(postmap, "k", self.cf("tls", cipher + f"tls_CAfile = {self.ca}\ntls_verify_cert = yes\n"))
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^[A-Z0-9_-]+\n$")
        # A server certificate that the CA did not sign: no lookup.
        p = subprocess.run([postmap, "-c", self.pfdir, "-q", "k", "mysql:" + self.cf(
            "wrong-ca", cipher + f"tls_CAfile = {self.other_ca}\ntls_verify_cert = yes\n")],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot connect to a MySQL server: inet:127.0.0.1:", p.stderr)


if __name__ == "__main__":
    unittest.main()
