"""Every registered parameter is read by some daemon or command, refused when
it asks for what Postern lacks, or listed as accepted and ignored
(src/lib/config/unsupported.cpp). A parameter that is none of these would be
silently ignored: an administrator's setting that changes nothing.

"Read" is found by a search of src/: the name as a string literal, a name
that a registered default refers to ($name), or one of the families the code
composes from a prefix (the TLS, XFORWARD, SASL and connection cache settings of smtp/smtpd/lmtp, the per-transport
<transport>_destination_* limits)."""
import os
import re
import subprocess
import unittest

from harness import SBIN

SOURCE = os.environ.get("POSTERN_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))

COMPOSED = [
    re.compile(r"^(smtp|smtpd|lmtp)_(tls_\w+|use_tls|enforce_tls|starttls_timeout)$"),
    re.compile(r"^(smtp|lmtp)_(send_xforward_command|xforward_timeout)$"),
    re.compile(r"^(smtp|lmtp)_(sasl_\w+|sender_dependent_authentication)$"),
    re.compile(r"^(smtp|lmtp)_connection_(cache_on_demand|cache_destinations|cache_time_limit|reuse_time_limit|"
               r"reuse_count_limit)$"),
    re.compile(r"^tls_\w+_cipherlist$"),
    re.compile(r"^\w+_destination_(concurrency_limit|recipient_limit|concurrency_failed_cohort_limit)$"),
]


def source_text(skip):
    out = []
    for root, _, files in os.walk(os.path.join(SOURCE, "src")):
        for f in files:
            if f.endswith((".cpp", ".h")) and "_test" not in f and "_fuzz" not in f and f not in skip:
                with open(os.path.join(root, f), errors="replace") as fh:
                    out.append(fh.read())
    return "\n".join(out)


class ParametersTest(unittest.TestCase):
    def test_every_parameter_is_read_refused_or_listed(self):
        p = subprocess.run([os.path.join(SBIN, "postconf"), "-d"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        names = [l.split(" = ", 1)[0] for l in p.stdout.splitlines() if " = " in l]
        self.assertGreater(len(names), 400)
        code = source_text({"registry.cpp", "registry_doc.cpp", "unsupported.cpp"})
        with open(os.path.join(SOURCE, "src", "lib", "config", "unsupported.cpp")) as f:
            listed = set(re.findall(r'"([A-Za-z0-9_]+)"', f.read()))
        with open(os.path.join(SOURCE, "src", "lib", "config", "registry.cpp")) as f:
            registry = f.read()
        referenced = set(re.findall(r"\$\{?\(?([A-Za-z0-9_]+)", registry))
        referenced |= set(re.findall(r'value\("([A-Za-z0-9_]+)"\)', registry))  # computed defaults
        silent = [n for n in names
                  if f'"{n}"' not in code and n not in listed and n not in referenced
                  and not any(rx.match(n) for rx in COMPOSED)]
        self.assertEqual(silent, [], "registered, read by nothing, and on neither list in unsupported.cpp")


if __name__ == "__main__":
    unittest.main()
