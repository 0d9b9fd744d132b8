"""SQL tables: sqlite: (sqlite_table(5)) on a database built with Python's
sqlite3, mysql: (mysql_table(5)) against a MariaDB server and pgsql:
(pgsql_table(5)) against a PostgreSQL server, both started here (Debian's
mariadb-server and postgresql, on 127.0.0.1 and private sockets).

- Postern's postmap -q and Postfix's (Debian's postfix-sqlite, postfix-mysql
  and postfix-pgsql) give the same answers and exit codes for the same
  parameter files: query expansions, result_format, domain, expansion_limit,
  the legacy query parameters; for MySQL also stored procedures and
  require_result_set, for PostgreSQL select_function; a server that is down;
- virtual_alias_maps in such a table on a running instance rewrites
  recipients (one alias to two addresses), and smtpd uses the same table to
  reject unknown recipients of the domain at RCPT.
"""
import glob
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


class ServerTables:
    """What the mysql: and pgsql: tests share: a server started in
    setUpClass (start_server), parameter files for it, postmap queries and
    the comparison with Postfix's postmap. KIND is the table type."""

    KIND = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=f"postern-{cls.KIND}-")
        os.chmod(cls.tmp, 0o755)
        cls.port = free_port()
        cls.server = None
        try:
            cls.start_server()
        except BaseException:
            cls.stop_server()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.pfdir = os.path.join(cls.tmp, "postfix")
        os.mkdir(cls.pfdir)
        open(os.path.join(cls.pfdir, "main.cf"), "w").close()

    @classmethod
    def stop_server(cls):
        if cls.server is None:
            return
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
        os.chmod(path, 0o644)
        return path

    def query(self, postmap, key, cf):
        p = subprocess.run([postmap, "-c", self.pfdir, "-q", key, f"{self.KIND}:{cf}"],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout

    def compare(self, variants, keys):
        if not os.path.exists(f"/usr/lib/postfix/postfix-{self.KIND}.so"):
            self.skipTest(f"Postfix's {self.KIND} support (postfix-{self.KIND}) not installed")
        return compare_with_postfix(self, self.KIND, {n: self.cf(n, t) for n, t in variants.items()}, keys)

    def test_same_answers_as_postfix(self):
        self.assertGreater(self.compare(VARIANTS, KEYS), 20)
        self.assertGreaterEqual(self.compare(self.MORE_VARIANTS, ["sales@example.com", "nobody@example.com"]), 3)

    def test_server_down_like_postfix(self):
        self.compare({}, [])  # skips without Postfix's support
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
        run_virtual_alias_flow(self, f"{self.KIND}:{cf}")


def alias_rows_sql():
    return ",".join("('{}','{}',{})".format(a.replace("'", "''"), g, n) for a, g, n in ROWS)


@unittest.skipUnless(shutil.which("mariadbd") and shutil.which("mariadb-install-db"),
                     "MariaDB server not installed (scripts/install-deps.sh --test installs it)")
class MysqlTables(ServerTables, unittest.TestCase):
    KIND = "mysql"
    MORE_VARIANTS = {
        "call": "query = CALL lookup('%s')\n",
        "call-format": "query = CALL lookup('%s')\nresult_format = <%s>\n",
        "no-result-set": "query = CALL nothing('%s')\n",
        "no-result-set-ok": "query = CALL nothing('%s')\nrequire_result_set = no\n",
        "two-result-sets": "query = CALL two('%s')\n",
        "bad-sql": "query = SELEKT goto FROM alias WHERE address = '%s'\n",
        "two-columns": "query = SELECT goto, address FROM alias WHERE address = '%s'\n",
    }

    @classmethod
    def start_server(cls):
        data = os.path.join(cls.tmp, "data")
        cls.sock = os.path.join(cls.tmp, "sock")
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
        wait_for(lambda: cls.sql("SELECT 1").returncode == 0, timeout=60, what="MariaDB up")
        p = cls.sql(MARIADB_SETUP + f"INSERT INTO mail.alias VALUES {alias_rows_sql()};")
        if p.returncode != 0:
            raise AssertionError(p.stderr)

    @classmethod
    def sql(cls, text):
        return subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={cls.sock}", "-e", text],
                              capture_output=True, text=True, timeout=30)

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


def postgres_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return os.path.dirname(found[-1]) if found else None


PGSQL_SETUP = """
CREATE TABLE alias (address TEXT, goto TEXT, active INT);
GRANT SELECT ON alias TO postern;
CREATE FUNCTION lookup(k TEXT) RETURNS SETOF TEXT AS $$ SELECT goto FROM alias WHERE address = k $$
  LANGUAGE sql STABLE;
"""


@unittest.skipUnless(postgres_bin(), "PostgreSQL server not installed (scripts/install-deps.sh --test installs it)")
class PgsqlTables(ServerTables, unittest.TestCase):
    KIND = "pgsql"
    MORE_VARIANTS = {
        "function": "select_function = lookup\n",
        "function-format": "select_function = lookup\nresult_format = <%s>\n",
        "bad-sql": "query = SELEKT goto FROM alias WHERE address = '%s'\n",
        "two-columns": "query = SELECT goto, address FROM alias WHERE address = '%s'\n",
        "no-rows-command": "query = SET application_name = '%u'\n",
    }

    @classmethod
    def start_server(cls):
        # PostgreSQL refuses to run as root: as root the server runs as
        # nobody, in directories nobody owns.
        bindir = postgres_bin()
        data, cls.sock = os.path.join(cls.tmp, "data"), os.path.join(cls.tmp, "sock")
        os.mkdir(cls.sock)
        pwfile = os.path.join(cls.tmp, "pw")
        with open(pwfile, "w") as f:
            f.write("admin pw\n")
        cls.as_user = []
        if os.geteuid() == 0:
            import pwd
            nobody = pwd.getpwnam("nobody")
            for path in (cls.tmp, cls.sock, pwfile):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            cls.as_user = ["runuser", "-u", "nobody", "--"]
        subprocess.run(cls.as_user + [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256",
                                      f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        cls.server = subprocess.Popen(
            cls.as_user + [f"{bindir}/postgres", "-D", data, "-k", cls.sock, "-p", str(cls.port),
                           "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: cls.sql("postgres", "SELECT 1").returncode == 0, timeout=60, what="PostgreSQL up")
        # psql -c runs its statements as one transaction: CREATE DATABASE alone.
        for db, text in (("postgres", "CREATE USER postern PASSWORD 'secret pw'"), ("postgres", "CREATE DATABASE mail"),
                         ("mail", PGSQL_SETUP + f"INSERT INTO alias VALUES {alias_rows_sql()};")):
            p = cls.sql(db, text)
            if p.returncode != 0:
                raise AssertionError(p.stderr)

    @classmethod
    def sql(cls, db, text):
        env = dict(os.environ, PGPASSWORD="admin pw")
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(cls.port),
                               "-U", "postgres", "-d", db, "-c", text],
                              capture_output=True, text=True, timeout=30, env=env)

    def test_unix_socket(self):
        # libpq takes a socket directory, and the socket's name has the
        # server's port in it: with a port other than 5432 only a URI can
        # say both.
        cf = self.cf("sock", "query = SELECT goto FROM alias WHERE address = '%s'\n",
                     hosts=f"postgresql:///mail?host={self.sock}&port={self.port}&user=postern&password=secret%20pw")
        self.assertEqual(self.query(os.path.join(SBIN, "postmap"), "info@example.com", cf),
                         (0, "joe@remote.test\n"))
        # unix:/directory looks for the default port's socket there, as
        # Postfix's does: both fail the same way here.
        self.compare({"unix-default-port": "query = SELECT goto FROM alias WHERE address = '%s'\n"
                                           f"hosts = unix:{self.sock}\n"}, ["info@example.com"])

    def test_connection_uri(self):
        cf = self.cf("uri", "query = SELECT goto FROM alias WHERE address = '%s'\n",
                     hosts=f"postgresql://postern:secret%20pw@127.0.0.1:{self.port}/mail")
        self.assertEqual(self.query(os.path.join(SBIN, "postmap"), "info@example.com", cf),
                         (0, "joe@remote.test\n"))

    def test_wrong_password(self):
        path = self.cf("badpw", "query = SELECT goto FROM alias WHERE address = '%s'\n")
        with open(path) as f:
            text = f.read().replace("secret pw", "wrong")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([os.path.join(SBIN, "postmap"), "-c", self.pfdir, "-q", "info@example.com",
                            "pgsql:" + path], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("password authentication failed", p.stderr)


if __name__ == "__main__":
    unittest.main()
