"""lmdb: tables (lmdb_table(5)), side by side with Debian's Postfix and its
postfix-lmdb support, and on a running instance.

- A table built by Postern's postmap is answered the same by Postfix's
  postmap -q and listed the same by its postmap -s as by ours, and the other
  way round. With the same source and options (default, -N, -n, -f, -r, -w)
  the two files hold the same raw records (keys and values byte for byte,
  trailing NULs included), read here with LMDB itself through ctypes.
- Duplicate keys: the same warning text; a missing, empty or foreign file is
  a fatal error with the same text as Postfix's; no "-lock" file appears.
- postalias: the same for aliases(5) sources, "@" and the NIS entries.
- postmap -i / -d / -i -r and postalias -i, taking turns between the two
  programs on one file, leave the same records as the reference.
- A table larger than lmdb_map_size (16 MiB) built, grown in place and read
  by either program.
- A running instance with virtual_alias_maps = lmdb:... relays an alias to
  its two targets and refuses unknown addresses at RCPT; an entry added
  meanwhile with Postfix's postmap -i is accepted without a reload. With
  alias_maps = lmdb:... (built by postalias) local expands an alias to remote
  addresses and delivers another to a file, as the owner of the .lmdb file
  (root only).
"""
import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Instance, SmtpClient, free_port, queue_master_cf, wait_for
from test_end_to_end import smtp_up
from postfix_tables import (OUR_POSTALIAS, OUR_POSTMAP, POSTFIX_POSTALIAS, POSTFIX_POSTMAP, LikePostfix,
                            check_alias_maps_delivery, postfix_supports)
from test_sql_tables import run_virtual_alias_flow

SOURCE = """\
# comment
Foo            bar
baz            qux  quux
MixedCase@Example.COM   somebody@remote.test
foo            second value (a duplicate)
long           {long}
folded         first part
    continued on the next line
utf8-ключ      значение
@example.org   catchall@remote.test
""".format(long="x" * 5000)

KEYS = ["foo", "FOO", "baz", "mixedcase@example.com", "MixedCase@Example.COM", "long", "folded",
        "utf8-ключ", "@example.org", "nothing", "", "x" * 600]

ALIASES = """\
root: admin@remote.test
Postmaster: root
team: ann@remote.test,
  bob@remote.test
"quoted name": someone@remote.test
"""


# --- raw records, read with LMDB itself ----------------------------------

MDB_NOSUBDIR = 0x4000
MDB_RDONLY = 0x20000
MDB_NOLOCK = 0x400000
MDB_FIRST = 0
MDB_NEXT = 8


class MdbVal(ctypes.Structure):
    _fields_ = [("mv_size", ctypes.c_size_t), ("mv_data", ctypes.c_void_p)]


def raw_records(path):
    """Every (key, value) byte pair in an .lmdb file, in file order."""
    lib = ctypes.CDLL("liblmdb.so.0")
    vp = ctypes.c_void_p
    lib.mdb_env_create.argtypes = [ctypes.POINTER(vp)]
    lib.mdb_env_open.argtypes = [vp, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    lib.mdb_env_close.argtypes = [vp]
    lib.mdb_txn_begin.argtypes = [vp, vp, ctypes.c_uint, ctypes.POINTER(vp)]
    lib.mdb_txn_abort.argtypes = [vp]
    lib.mdb_dbi_open.argtypes = [vp, ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint)]
    lib.mdb_cursor_open.argtypes = [vp, ctypes.c_uint, ctypes.POINTER(vp)]
    lib.mdb_cursor_get.argtypes = [vp, ctypes.POINTER(MdbVal), ctypes.POINTER(MdbVal), ctypes.c_int]
    lib.mdb_cursor_close.argtypes = [vp]
    env, txn, cur, dbi = vp(), vp(), vp(), ctypes.c_uint()
    assert lib.mdb_env_create(ctypes.byref(env)) == 0
    try:
        rc = lib.mdb_env_open(env, path.encode(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0o644)
        assert rc == 0, f"mdb_env_open {path}: {rc}"
        assert lib.mdb_txn_begin(env, None, MDB_RDONLY, ctypes.byref(txn)) == 0
        assert lib.mdb_dbi_open(txn, None, 0, ctypes.byref(dbi)) == 0
        assert lib.mdb_cursor_open(txn, dbi.value, ctypes.byref(cur)) == 0
        out = []
        k, v = MdbVal(), MdbVal()
        op = MDB_FIRST
        while lib.mdb_cursor_get(cur, ctypes.byref(k), ctypes.byref(v), op) == 0:
            out.append((ctypes.string_at(k.mv_data, k.mv_size), ctypes.string_at(v.mv_data, v.mv_size)))
            op = MDB_NEXT
        lib.mdb_cursor_close(cur)
        lib.mdb_txn_abort(txn)
        return out
    finally:
        lib.mdb_env_close(env)


def without_stamp(records):
    """NIS's YP_LAST_MODIFIED holds the second the table was built."""
    return [(k, v) for k, v in records if k != b"YP_LAST_MODIFIED"]


class LmdbLikePostfix(LikePostfix):
    TYPE = "lmdb"
    SOURCE = SOURCE

    def answers(self, prog, spec, keys):
        """postmap -q - with every key on stdin: exit code and output."""
        rc, out, _ = self.run_tool(prog, ["-q", "-", spec], input="".join(k + "\n" for k in keys))
        return rc, out

    def listing(self, prog, spec):
        rc, out, err = self.run_tool(prog, ["-s", spec])
        self.assertEqual(rc, 0, err)
        return out

    def assert_same_everywhere(self, spec, keys=KEYS, postmap=(OUR_POSTMAP, POSTFIX_POSTMAP)):
        ours, theirs = postmap
        for key in keys:
            with self.subTest(key=key[:20]):
                self.assertEqual(self.run_tool(ours, ["-q", key, spec])[:2],
                                 self.run_tool(theirs, ["-q", key, spec])[:2])
        self.assertEqual(self.answers(ours, spec, keys), self.answers(theirs, spec, keys))
        self.assertEqual(self.listing(ours, spec), self.listing(theirs, spec))

    def test_tables_built_by_either_postmap_answer_the_same(self):
        for builder in (OUR_POSTMAP, POSTFIX_POSTMAP):
            with self.subTest(builder=builder):
                src = self.source("either")
                self.build(builder, "lmdb:" + src)
                self.assert_same_everywhere("lmdb:" + src)
                rc, out = self.answers(OUR_POSTMAP, "lmdb:" + src, ["FOO", "long", "folded", "utf8-ключ"])
                self.assertEqual(rc, 0)
                self.assertEqual(out, "FOO\tbar\nlong\t" + "x" * 5000
                                 + "\nfolded\tfirst part    continued on the next line\nutf8-ключ\tзначение\n")
                # Postfix runs LMDB without its lock file; so do we.
                self.assertEqual(sorted(f for f in os.listdir(self.tmp) if f.startswith("either")),
                                 ["either", "either.lmdb"])

    def test_same_records_as_postfix(self):
        for opts in ((), ("-N",), ("-n",), ("-f",), ("-r",), ("-w",)):
            with self.subTest(opts=opts):
                ours, theirs = self.source("ours"), self.source("theirs")
                self.build(OUR_POSTMAP, "lmdb:" + ours, opts)
                self.build(POSTFIX_POSTMAP, "lmdb:" + theirs, opts)
                mine = raw_records(ours + ".lmdb")
                self.assertEqual(mine, raw_records(theirs + ".lmdb"))
                # "Foo" and "foo" are one key unless -f keeps case.
                self.assertEqual(len(mine), 8 if "-f" in opts else 7)
        # The default convention, spelled out: folded key and value, each
        # with one trailing NUL (Postfix's choice on Linux).
        self.build(OUR_POSTMAP, "lmdb:" + self.source("ours"))
        self.assertIn((b"foo\0", b"bar\0"), raw_records(ours + ".lmdb"))

    def test_duplicate_warning_like_postfix(self):
        src = self.source("dup")
        theirs = self.build(POSTFIX_POSTMAP, "lmdb:" + src)
        ours = self.build(OUR_POSTMAP, "lmdb:" + src)
        want = f'warning: lmdb:{src}: duplicate entry: "foo"'
        self.assertIn(want, theirs)
        self.assertIn(want, ours)

    def test_missing_empty_and_foreign_files(self):
        missing = os.path.join(self.tmp, "missing")
        empty = self.source("empty", "")
        with open(empty + ".lmdb", "w"):
            pass
        junk = self.source("junk", "")
        with open(junk + ".lmdb", "wb") as f:
            f.write(os.urandom(20000))
        for name, path in (("missing", missing), ("empty", empty), ("junk", junk)):
            with self.subTest(name=name):
                rc_o, out_o, err_o = self.run_tool(OUR_POSTMAP, ["-q", "foo", "lmdb:" + path])
                rc_t, out_t, err_t = self.run_tool(POSTFIX_POSTMAP, ["-q", "foo", "lmdb:" + path])
                self.assertEqual((rc_o, out_o), (rc_t, out_t))
                self.assertEqual(rc_o, 1)
                self.assertIn(f"fatal: open database {path}.lmdb: ", err_o)
                if name != "empty":  # Postfix says "Bad file descriptor" there; we say why
                    self.assertEqual(err_o.split("fatal: ")[1], err_t.split("fatal: ")[1])
        self.assertFalse(os.path.exists(missing + ".lmdb"))

    def test_postalias_tables_answer_the_same(self):
        keys = ["root", "postmaster", "POSTMASTER", "team", "quoted name", "@", "nobody"]
        for builder in (OUR_POSTALIAS, POSTFIX_POSTALIAS):
            with self.subTest(builder=builder):
                src = self.source("aliases", ALIASES)
                self.build(builder, "lmdb:" + src)
                self.assert_same_everywhere("lmdb:" + src, keys, (OUR_POSTALIAS, POSTFIX_POSTALIAS))
                self.assertEqual(self.run_tool(POSTFIX_POSTALIAS, ["-q", "team", "lmdb:" + src])[1],
                                 "ann@remote.test, bob@remote.test\n")
        ours, theirs = self.source("al_ours", ALIASES), self.source("al_theirs", ALIASES)
        self.build(OUR_POSTALIAS, "lmdb:" + ours)
        self.build(POSTFIX_POSTALIAS, "lmdb:" + theirs)
        mine = without_stamp(raw_records(ours + ".lmdb"))
        self.assertEqual(mine, without_stamp(raw_records(theirs + ".lmdb")))
        self.assertIn((b"@\0", b"@\0"), mine)
        self.assertIn(b"YP_MASTER_NAME", [k for k, _ in mine])

    def test_changes_in_place_taking_turns(self):
        src = self.source("turns", "a 1\nb 2\nc 3\n")
        spec = "lmdb:" + src
        self.build(OUR_POSTMAP, spec)
        inode = os.stat(src + ".lmdb").st_ino
        steps = [
            (POSTFIX_POSTMAP, ["-i", spec], "D 4\nE 5\n"),
            (OUR_POSTMAP, ["-i", spec], "F 6\na ignored (exists)\n"),
            (POSTFIX_POSTMAP, ["-d", "B", spec], None),
            (OUR_POSTMAP, ["-d", "c", spec], None),
            (OUR_POSTMAP, ["-d", "-", spec], "d\nnothing\n"),
            (OUR_POSTMAP, ["-i", "-r", spec], "e five\n"),
            (POSTFIX_POSTMAP, ["-i", "-r", spec], "f six\n"),
        ]
        for prog, args, stdin in steps:
            rc, _, err = self.run_tool(prog, args, input=stdin)
            self.assertEqual(rc, 0, f"{prog} {args}: {err}")
        want = [(b"a\0", b"1\0"), (b"e\0", b"five\0"), (b"f\0", b"six\0")]
        self.assertEqual(raw_records(src + ".lmdb"), want)
        self.assertEqual(self.listing(OUR_POSTMAP, spec), "a\t1\ne\tfive\nf\tsix\n")
        self.assertEqual(self.listing(POSTFIX_POSTMAP, spec), "a\t1\ne\tfive\nf\tsix\n")
        # Updated in place, by both.
        self.assertEqual(os.stat(src + ".lmdb").st_ino, inode)
        # Deleting what is not there: exit code 1 from both.
        self.assertEqual(self.run_tool(OUR_POSTMAP, ["-d", "zz", spec])[0], 1)
        self.assertEqual(self.run_tool(POSTFIX_POSTMAP, ["-d", "zz", spec])[0], 1)

    def test_postalias_incremental(self):
        src = self.source("al_inc", ALIASES)
        spec = "lmdb:" + src
        self.build(POSTFIX_POSTALIAS, spec)
        rc, _, err = self.run_tool(OUR_POSTALIAS, ["-i", spec], input="new: x@remote.test\n")
        self.assertEqual(rc, 0, err)
        rc, _, err = self.run_tool(POSTFIX_POSTALIAS, ["-i", spec], input="newer: y@remote.test\n")
        self.assertEqual(rc, 0, err)
        for prog in (OUR_POSTALIAS, POSTFIX_POSTALIAS):
            self.assertEqual(self.answers(prog, spec, ["new", "newer", "root"]),
                             (0, "new:\tx@remote.test\nnewer:\ty@remote.test\nroot:\tadmin@remote.test\n"))

    def test_tables_larger_than_the_initial_map(self):
        value = "v" * 800
        text = "".join(f"key{i} {value}{i}\n" for i in range(25000))
        keys = ["key0", "key12345", "key24999", "key25000"]
        for builder, other in ((OUR_POSTMAP, POSTFIX_POSTMAP), (POSTFIX_POSTMAP, OUR_POSTMAP)):
            with self.subTest(builder=builder):
                src = self.source("big", text)
                self.build(builder, "lmdb:" + src)
                self.assertGreater(os.path.getsize(src + ".lmdb"), 16 * 1024 * 1024)
                # The other program grows it in place past its map.
                more = "".join(f"more{i} {value}\n" for i in range(15000))
                rc, _, err = self.run_tool(other, ["-i", "lmdb:" + src], input=more)
                self.assertEqual(rc, 0, err)
                self.assertEqual(self.answers(OUR_POSTMAP, "lmdb:" + src, keys + ["more14999"]),
                                 self.answers(POSTFIX_POSTMAP, "lmdb:" + src, keys + ["more14999"]))
                self.assertEqual(self.run_tool(OUR_POSTMAP, ["-q", "more14999", "lmdb:" + src])[:2],
                                 (0, value + "\n"))
                self.assertEqual(self.listing(OUR_POSTMAP, "lmdb:" + src).count("\n"), 40000)


class LmdbOnARunningInstance(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postern-lmdb-run-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.conf = os.path.join(self.tmp, "conf")
        os.mkdir(self.conf)
        open(os.path.join(self.conf, "main.cf"), "w").close()

    def postmap(self, prog, args, input=None):
        p = subprocess.run([prog, "-c", self.conf] + args, capture_output=True, text=True, input=input,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_virtual_alias_maps(self):
        src = os.path.join(self.tmp, "virtual")
        with open(src, "w") as f:
            f.write("info@example.com joe@remote.test\nsales@example.com ann@remote.test, bob@remote.test\n")
        self.postmap(OUR_POSTMAP, ["lmdb:" + src])
        run_virtual_alias_flow(self, "lmdb:" + src)

    def test_entries_added_by_postfix_while_running(self):
        if not postfix_supports("lmdb", self.conf):
            self.skipTest("Postfix's postmap has no lmdb support (postfix-lmdb)")
        src = os.path.join(self.tmp, "virtual")
        with open(src, "w") as f:
            f.write("info@example.com joe@remote.test\n")
        self.postmap(OUR_POSTMAP, ["lmdb:" + src])
        port = free_port()
        main_cf = f"""
myhostname = mta.test
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
virtual_alias_domains = example.com
virtual_alias_maps = lmdb:{src}
"""
        inst = Instance("lmdb", main_cf_extra=main_cf, master_cf=queue_master_cf(port))
        self.addCleanup(inst.cleanup)
        inst.start()
        wait_for(lambda: smtp_up(port), timeout=15, what="smtpd listening")

        def rcpt(address):
            c = SmtpClient(port)
            try:
                c.ask("EHLO client.test")
                c.ask("MAIL FROM:<alice@sender.test>")
                r = c.ask(f"RCPT TO:<{address}>")
                c.ask("QUIT")
                return r
            finally:
                c.close()

        self.assertTrue(rcpt("info@example.com").startswith("250"))
        self.assertTrue(rcpt("new@example.com").startswith("550 5.1.1"))
        # Postfix's postmap -i changes the file in place while smtpd has it open.
        self.postmap(POSTFIX_POSTMAP, ["-i", "lmdb:" + src], input="new@example.com new@remote.test\n")
        wait_for(lambda: rcpt("new@example.com").startswith("250"), timeout=15, what="the new entry accepted")
        self.assertTrue(rcpt("info@example.com").startswith("250"))
        self.assertTrue(rcpt("other@example.com").startswith("550 5.1.1"))

    def test_alias_maps_local_delivery(self):
        inst, mbox = check_alias_maps_delivery(self, "lmdb", self.tmp)
        inst.wait_log(r"(?i)to=<filer@mta\.test>, .*relay=local, .*status=sent \(delivered to file: "
                      + re.escape(mbox))


if __name__ == "__main__":
    unittest.main()
