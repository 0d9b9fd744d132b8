"""A small DNS server on 127.0.0.1 (UDP and TCP on one port) for tests that
need what dnsmasq cannot give: answers that carry the AD bit, as a
validating resolver sets it (DANE trusts the local resolver's AD bit, as
Postfix does).

    dns = FakeDns()
    dns.add("example.test", "MX", mx(10, "mx.example.test"), secure=True)
    dns.add("mx.example.test", "A", a("127.0.0.1"), secure=True)
    dns.add("_25._tcp.mx.example.test", "TLSA", tlsa(3, 1, 1, digest), secure=True)
    dns.servfail.add("broken.example.test")
    ... dns.address (for dns_resolver_address) ...
    dns.close()

A name that exists answers NOERROR (with no records for other types); a
name never added is NXDOMAIN. AD is set on every answer about a name added
with secure=True (records or no data), when the query asked for it (AD or
DO bit); never otherwise. Standard library only.
"""

import socket
import struct
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "MX": 15, "TXT": 16, "AAAA": 28, "TLSA": 52}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def a(ip):
    return socket.inet_pton(socket.AF_INET, ip)


def mx(pref, host):
    return struct.pack("!H", pref) + encode_name(host)


def tlsa(usage, selector, mtype, data):
    return bytes([usage, selector, mtype]) + bytes(data)


class FakeDns:
    def __init__(self):
        self.records = {}    # (name, type) -> [rdata]
        self.names = set()
        self.secure = set()
        self.servfail = set()
        self.queries = []    # (name, type, asked for AD)
        for _ in range(20):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket()
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen(8)
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._serve_udp, daemon=True).start()
        threading.Thread(target=self._serve_tcp, daemon=True).start()

    def add(self, name, rtype, rdata, secure=False):
        name = name.lower().rstrip(".")
        self.names.add(name)
        if secure:
            self.secure.add(name)
        self.records.setdefault((name, TYPES[rtype]), []).append(rdata)

    def close(self):
        self.udp.close()
        self.tcp.close()

    def answer(self, query):
        if len(query) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", query[:6])
        i, labels = 12, []
        while i < len(query) and query[i] != 0:
            n = query[i]
            labels.append(query[i + 1:i + 1 + n].decode(errors="replace").lower())
            i += 1 + n
        if qd != 1 or i + 5 > len(query):
            return None
        qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
        question = query[12:i + 5]
        name = ".".join(labels)
        # The DO bit sits in the OPT record's TTL, if there is one.
        do = len(query) >= i + 5 + 11 and query[i + 5 + 3:i + 5 + 5] == b"\x00\x29" and \
            query[i + 5 + 7] & 0x80 != 0
        asked = bool(flags & 0x0020) or do
        self.queries.append((name, qtype, asked))
        rcode, answers = 0, []
        if name in self.servfail:
            rcode = 2
        elif name not in self.names:
            rcode = 3
        else:
            answers = self.records.get((name, qtype), [])
        out_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        if asked and rcode != 2 and name in self.secure:
            out_flags |= 0x0020
        msg = struct.pack("!HHHHHH", qid, out_flags, 1, len(answers), 0, 0) + question
        for rdata in answers:
            msg += encode_name(name) + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
        return msg

    def _serve_udp(self):
        while True:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None:
                try:
                    self.udp.sendto(reply, peer)
                except OSError:
                    return

    def _serve_tcp(self):
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_session, args=(conn,), daemon=True).start()

    def _tcp_session(self, conn):
        with conn:
            f = conn.makefile("rb")
            while True:
                head = f.read(2)
                if len(head) < 2:
                    return
                data = f.read(struct.unpack("!H", head)[0])
                reply = self.answer(data)
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
