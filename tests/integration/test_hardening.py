"""Every program of a hardened build carries Debian's hardening (docs/coding.md).

A build configured with POSTERN_HARDEN=ON (the default, except for the
sanitizer and fuzz builds) must give every daemon in libexec/ and every
command in sbin/: PIE (ELF type DYN), full RELRO (a GNU_RELRO segment and
BIND_NOW), stack canaries (an import of __stack_chk_fail) and fortified libc
calls (at least one __*_chk import; not in Debug builds). readelf(1) from
binutils reads the files; a build that is not hardened is skipped, naming its
setting.
"""
import os
import re
import subprocess
import unittest

from harness import BUILD, LIBEXEC, SBIN


def cache_setting(name):
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(rf"{name}:\w+=(\S*)", line)
                if m:
                    return m.group(1).upper()
    except OSError:
        return None
    return None


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True,
                          text=True).stdout


def programs():
    out = []
    for d in (LIBEXEC, SBIN):
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue  # a wrapper script left by a test, not a program
            out.append(path)
    return out


class HardeningTest(unittest.TestCase):
    def setUp(self):
        setting = cache_setting("POSTERN_HARDEN")
        if setting not in ("ON", "TRUE", "1", "YES"):
            self.skipTest(f"build in {BUILD} is not hardened (POSTERN_HARDEN={setting})")

    def test_every_program_is_hardened(self):
        progs = programs()
        self.assertGreater(len(progs), 10, f"too few programs found in {LIBEXEC} and {SBIN}")
        for path in progs:
            with self.subTest(program=os.path.relpath(path, BUILD)):
                checks = [
                    ("-h", r"Type:\s+DYN", "not position independent (no PIE)"),
                    ("-l", r"GNU_RELRO", "no RELRO segment"),
                    ("-d", r"\(FLAGS\)\s+BIND_NOW|\(FLAGS_1\)\s+Flags:.*\bNOW\b",
                     "symbols are bound lazily, so the GOT stays writable (no -z now)"),
                    ("--dyn-syms", r"\b__stack_chk_fail\b", "no stack protector"),
                ]
                # _FORTIFY_SOURCE needs the optimizer: Debug builds go without.
                if cache_setting("CMAKE_BUILD_TYPE") != "DEBUG":
                    checks.append(("--dyn-syms", r"\b__\w+_chk@",
                                   "no fortified libc call (_FORTIFY_SOURCE)"))
                for option, pattern, why in checks:
                    self.assertTrue(re.search(pattern, readelf(option, path)), why)


if __name__ == "__main__":
    unittest.main()
