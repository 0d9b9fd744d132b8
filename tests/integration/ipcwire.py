"""ipcwire.py - Postern's internal protocol (docs/ipc.md) for integration tests.

Frames are a u32 big-endian length and a payload; a payload is
  version(1) type_len:u8 type count:u16be {name_len:u8 name tag:u8 value_len:u32be value}*
with tags 'S' (bytes), 'I' (canonical decimal integer) and 'L' (list of
u32be-length-prefixed items). Written from the specification, independent of
the C++ code, so that tests check the wire format itself.

    with Connection(path) as c:
        reply_type, attrs = c.call("trivial_rewrite_request",
                                   [("request", "resolve"), ("address", "joe@example.org")])
"""
import socket
import struct

VERSION = 1
MAX_PAYLOAD = 1 << 20


class WireError(Exception):
    pass


def _bytes(v):
    return v if isinstance(v, bytes) else str(v).encode()


def encode(msg_type, attrs):
    """attrs: list of (name, value); int -> 'I', list -> 'L', else 'S'."""
    t = _bytes(msg_type)
    out = bytearray(struct.pack(">BB", VERSION, len(t)) + t + struct.pack(">H", len(attrs)))
    for name, value in attrs:
        n = _bytes(name)
        if isinstance(value, bool) or isinstance(value, int):
            tag, data = b"I", str(int(value)).encode()
        elif isinstance(value, (list, tuple)):
            tag = b"L"
            data = b"".join(struct.pack(">I", len(_bytes(i))) + _bytes(i) for i in value)
        else:
            tag, data = b"S", _bytes(value)
        out += struct.pack(">B", len(n)) + n + tag + struct.pack(">I", len(data)) + data
    return bytes(out)


def decode(payload):
    """Returns (type, {name: value}); strings stay bytes decoded as UTF-8
    with surrogateescape, integers become int, lists lists of str."""
    def need(pos, n):
        if pos + n > len(payload):
            raise WireError("truncated message")
    need(0, 2)
    version, tlen = payload[0], payload[1]
    if version != VERSION:
        raise WireError(f"bad version {version}")
    pos = 2
    need(pos, tlen + 2)
    msg_type = payload[pos:pos + tlen].decode()
    pos += tlen
    (count,) = struct.unpack_from(">H", payload, pos)
    pos += 2
    attrs = {}
    for _ in range(count):
        need(pos, 1)
        nlen = payload[pos]
        pos += 1
        need(pos, nlen + 5)
        name = payload[pos:pos + nlen].decode()
        pos += nlen
        tag = payload[pos:pos + 1]
        (vlen,) = struct.unpack_from(">I", payload, pos + 1)
        pos += 5
        need(pos, vlen)
        raw = payload[pos:pos + vlen]
        pos += vlen
        if name in attrs:
            raise WireError(f"duplicate attribute {name}")
        if tag == b"S":
            attrs[name] = raw.decode("utf-8", "surrogateescape")
        elif tag == b"I":
            attrs[name] = int(raw.decode())
        elif tag == b"L":
            items, i = [], 0
            while i < len(raw):
                (ilen,) = struct.unpack_from(">I", raw, i)
                items.append(raw[i + 4:i + 4 + ilen].decode("utf-8", "surrogateescape"))
                i += 4 + ilen
            attrs[name] = items
        else:
            raise WireError(f"unknown tag {tag!r}")
    if pos != len(payload):
        raise WireError("trailing bytes")
    return msg_type, attrs


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class Connection:
    """A stream connection to a Unix-domain socket speaking frames."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    def read_frame(self):
        (length,) = struct.unpack(">I", self._read_exact(4))
        if length == 0 or length > MAX_PAYLOAD:
            raise WireError(f"bad frame length {length}")
        return self._read_exact(length)

    def call(self, msg_type, attrs):
        self.send_raw(frame(encode(msg_type, attrs)))
        return decode(self.read_frame())
