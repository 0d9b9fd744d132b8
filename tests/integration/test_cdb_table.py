"""cdb: tables (cdb_table(5)), side by side with Debian's Postfix and its
postfix-cdb support, and on a running instance.

- A table built by Postern's postmap is answered the same by Postfix's
  postmap -q as by ours, and the other way round; with the same source and
  options (default, -N, -f, -r) the two .cdb files are byte for byte the
  same. With -w Postfix keeps both records of a duplicate key and Postern
  only the first: the answers are still the same.
- postalias: the same for aliases(5) sources, "@" and the NIS entries.
- postmap -s: Postfix refuses to list a cdb table; Postern lists it, and
  every entry it lists is what Postfix's postmap -q answers.
- postmap -i, postmap -d and postalias -i are refused by both, and leave the
  file alone; a missing or malformed .cdb is a fatal error for both.
- A running instance with virtual_alias_maps = cdb:... relays an alias to
  its two targets and refuses unknown addresses at RCPT; with
  alias_maps = cdb:... (built by postalias) local expands an alias to remote
  addresses and delivers another to a file, as the owner of the .cdb file
  (root only).
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from postfix_tables import (OUR_POSTALIAS, OUR_POSTMAP, POSTFIX_POSTALIAS, POSTFIX_POSTMAP, LikePostfix,
                            check_alias_maps_delivery)
from test_sql_tables import run_virtual_alias_flow

SOURCE = """# a comment, then entries Postfix's postmap reads
Foo bar
foo baz
key2 value two
user@example.com other@example.net
@example.com catchall@example.net
MixedCase@Example.COM Value With Caps
continued first
  second line
empty
"""

KEYS = ["foo", "FOO", "key2", "user@example.com", "USER@example.com", "@example.com",
        "mixedcase@example.com", "MixedCase@Example.COM", "continued", "empty", "missing", "user"]

ALIASES = """root: admin
Postmaster: root
team: ann@remote.test,
  bob@remote.test
team: duplicate@remote.test
quoted: "|/bin/cat"
"""

ALIAS_KEYS = ["root", "POSTMASTER", "team", "quoted", "@", "YP_MASTER_NAME", "yp_master_name", "missing"]


class CdbLikePostfix(LikePostfix):
    TYPE = "cdb"
    SOURCE = SOURCE

    def answers(self, prog, spec, keys):
        """(exit code, output) of `prog -q -` for all keys, and of `prog -q KEY`
        for each one."""
        rc, out, _ = self.run_tool(prog, ["-q", "-", spec], input="".join(k + "\n" for k in keys))
        single = [self.run_tool(prog, ["-q", k, spec])[:2] for k in keys]
        return (rc, out), single

    def assert_same_answers(self, spec, keys, postmap=(OUR_POSTMAP, POSTFIX_POSTMAP)):
        ours = self.answers(postmap[0], spec, keys)
        theirs = self.answers(postmap[1], spec, keys)
        self.assertEqual(ours, theirs)
        # Not a comparison of two empty answers.
        self.assertGreaterEqual(sum(rc == 0 for rc, _ in ours[1]), len(keys) // 2)
        return ours

    # --- postmap -----------------------------------------------------
    def test_tables_built_by_either_postmap_answer_the_same(self):
        for n, builder in enumerate((OUR_POSTMAP, POSTFIX_POSTMAP)):
            with self.subTest(builder=builder):
                spec = "cdb:" + self.source(f"map{n}")
                err = self.build(builder, spec)
                # Both warn about the duplicate and the line without a value.
                self.assertIn(': duplicate entry: "foo"', err)
                self.assertIn("line 10: expected format: key whitespace value", err)
                (rc, out), single = self.assert_same_answers(spec, KEYS)
                self.assertEqual(rc, 0)
                self.assertIn("foo\tbar\n", out)  # the first of the duplicates
                self.assertEqual(single[KEYS.index("continued")], (0, "first  second line\n"))
                self.assertEqual(single[KEYS.index("empty")], (1, ""))

    def test_same_bytes_as_postfix(self):
        for opts in ([], ["-N"], ["-f"], ["-r"], ["-N", "-r", "-f"]):
            with self.subTest(opts=opts):
                ours = self.source("ours")
                theirs = self.source("theirs")
                self.build(OUR_POSTMAP, "cdb:" + ours, opts)
                self.build(POSTFIX_POSTMAP, "cdb:" + theirs, opts)
                with open(ours + ".cdb", "rb") as a, open(theirs + ".cdb", "rb") as b:
                    mine, reference = a.read(), b.read()
                self.assertEqual(mine, reference)
                # -N: with trailing nulls; otherwise without (unlike hash:).
                self.assertEqual(b"key2\0value two\0" in mine, "-N" in opts)
                self.assertEqual(b"key2value two" in mine, "-N" not in opts)
                # Both postmaps read each file, whatever the convention.
                self.assert_same_answers("cdb:" + ours, KEYS)

    def test_ignoring_duplicates_answers_the_same(self):
        # Postfix's -w stores every record of a duplicate key; lookups only
        # ever see the first. Postern keeps only that one.
        for builder in (OUR_POSTMAP, POSTFIX_POSTMAP):
            with self.subTest(builder=builder):
                spec = "cdb:" + self.source("w")
                err = self.build(builder, spec, ["-w"])
                self.assertNotIn("duplicate entry", err)
                (rc, out), _ = self.assert_same_answers(spec, KEYS)
                self.assertIn("foo\tbar\n", out)

    def test_sequence(self):
        spec = "cdb:" + self.source("seq")
        self.build(POSTFIX_POSTMAP, spec)
        rc, out, err = self.run_tool(POSTFIX_POSTMAP, ["-s", spec])
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("sequence operation is not supported", err)
        rc, out, err = self.run_tool(OUR_POSTMAP, ["-s", spec])
        self.assertEqual(rc, 0, err)
        entries = [line.split("\t", 1) for line in out.splitlines()]
        self.assertEqual([k for k, _ in entries],
                         ["foo", "key2", "user@example.com", "@example.com", "mixedcase@example.com", "continued"])
        for key, value in entries:
            self.assertEqual(self.run_tool(POSTFIX_POSTMAP, ["-q", key, spec])[:2], (0, value + "\n"))
        # The same listing from the file Postern builds.
        spec2 = "cdb:" + self.source("seq2")
        self.build(OUR_POSTMAP, spec2)
        self.assertEqual(self.run_tool(OUR_POSTMAP, ["-s", spec2])[:2], (0, out))

    def test_changes_in_place_are_refused(self):
        src = self.source("ro")
        spec = "cdb:" + src
        self.build(POSTFIX_POSTMAP, spec)
        with open(src + ".cdb", "rb") as f:
            before = f.read()
        for args, stdin in ((["-i"], "new value\n"), (["-d", "foo"], None), (["-d", "-"], "foo\n")):
            with self.subTest(args=args):
                ours = self.run_tool(OUR_POSTMAP, args + [spec], input=stdin)
                theirs = self.run_tool(POSTFIX_POSTMAP, args + [spec], input=stdin)
                self.assertEqual(ours[:2], theirs[:2])
                self.assertEqual(ours[:2], (1, ""))
                self.assertIn("fatal: dict_cdb_open: inappropriate open flags for cdb database", theirs[2])
                self.assertIn(f"fatal: open database {src}.cdb: a cdb table cannot be changed in place", ours[2])
        rc, _, err = self.run_tool(OUR_POSTALIAS, ["-i", spec], input="x: y\n")
        self.assertEqual(rc, 1)
        self.assertIn("cannot be changed in place", err)
        self.assertEqual(self.run_tool(POSTFIX_POSTALIAS, ["-i", spec], input="x: y\n")[0], 1)
        with open(src + ".cdb", "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sorted(n for n in os.listdir(self.tmp) if n.startswith("ro")), ["ro", "ro.cdb"])

    def test_missing_and_malformed_files(self):
        missing = os.path.join(self.tmp, "nonexistent")
        for prog in (OUR_POSTMAP, POSTFIX_POSTMAP):
            rc, out, err = self.run_tool(prog, ["-q", "foo", "cdb:" + missing])
            self.assertEqual((rc, out), (1, ""), prog)
            self.assertIn(f"fatal: open database {missing}.cdb: No such file or directory", err)
        bad = os.path.join(self.tmp, "short")
        with open(bad + ".cdb", "wb") as f:
            f.write(b"\0" * 100)
        for prog in (OUR_POSTMAP, POSTFIX_POSTMAP):
            rc, out, err = self.run_tool(prog, ["-q", "foo", "cdb:" + bad])
            self.assertEqual((rc, out), (1, ""), prog)
            self.assertIn(f"{bad}.cdb", err)
            self.assertIn("fatal:", err)

    # --- postalias ---------------------------------------------------
    def test_postalias_tables_answer_the_same(self):
        for builder in (OUR_POSTALIAS, POSTFIX_POSTALIAS):
            with self.subTest(builder=builder):
                spec = "cdb:" + self.source("aliases", ALIASES)
                err = self.build(builder, spec)
                self.assertIn(': duplicate entry: "team"', err)
                (rc, out), single = self.assert_same_answers(spec, ALIAS_KEYS,
                                                             postmap=(OUR_POSTALIAS, POSTFIX_POSTALIAS))
                self.assertIn("team:\tann@remote.test, bob@remote.test\n", out)
                self.assertIn("@:\t@\n", out)
                # The NIS entries are there, unfolded, without null.
                with open(spec[4:] + ".cdb", "rb") as f:
                    data = f.read()
                self.assertIn(b"YP_MASTER_NAMEmta.test", data)
                self.assertIn(b"YP_LAST_MODIFIED", data)
        # Only the YP_LAST_MODIFIED stamp may differ between the two files.
        ours, theirs = self.source("a-ours", ALIASES), self.source("a-theirs", ALIASES)
        self.build(OUR_POSTALIAS, "cdb:" + ours)
        self.build(POSTFIX_POSTALIAS, "cdb:" + theirs)
        listing = self.run_tool(OUR_POSTALIAS, ["-s", "cdb:" + ours])[1].splitlines()
        reference = self.run_tool(OUR_POSTALIAS, ["-s", "cdb:" + theirs])[1].splitlines()
        self.assertEqual([x for x in listing if not x.startswith("YP_LAST_MODIFIED")],
                         [x for x in reference if not x.startswith("YP_LAST_MODIFIED")])
        self.assertEqual(len(listing), 7)


class CdbOnARunningInstance(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postern-cdb-run-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_virtual_alias_maps(self):
        conf = os.path.join(self.tmp, "conf")
        os.mkdir(conf)
        open(os.path.join(conf, "main.cf"), "w").close()
        src = os.path.join(self.tmp, "virtual")
        with open(src, "w") as f:
            f.write("info@example.com joe@remote.test\nsales@example.com ann@remote.test, bob@remote.test\n")
        p = subprocess.run([OUR_POSTMAP, "-c", conf, "cdb:" + src], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(src + ".cdb"))
        run_virtual_alias_flow(self, "cdb:" + src)

    def test_alias_maps_local_delivery(self):
        inst, mbox = check_alias_maps_delivery(self, "cdb", self.tmp)
        inst.wait_log(r"(?i)to=<filer@mta\.test>, .*relay=local, .*status=sent \(delivered to file: "
                      + re.escape(mbox))


if __name__ == "__main__":
    unittest.main()
