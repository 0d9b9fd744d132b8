"""queuegen.py - write Postern queue files directly, fast, for queue-tool tests.

Writes the byte format of docs/queue-file.md (records: type, 4-byte
big-endian length, payload; C W T S A* R* M N* X E), names each file by
its inode the way the writer does (5 hex digits of microseconds + inode in
hex), sets the ready mark (owner execute bit) and hands it to mail_owner.
Thousands of messages take well under a second, with no daemon involved.
"""
import os
import random
import struct
import time


def _rec(t, payload=b""):
    return t + struct.pack(">I", len(payload)) + payload


def _rcpt(addr, notify=0):
    a = addr.encode()
    out = b"a%d:%s" % (len(a), a)
    if notify:
        n = str(notify).encode()
        out += b"n%d:%s" % (len(n), n)
    return out


def queue_file_bytes(sender, recipients, body_lines, arrival=None, done=(), attrs=()):
    """The bytes of one complete queue file. `done`: indexes of recipients
    already delivered (D records); `attrs`: (name, value) envelope attributes."""
    arrival = int(arrival if arrival is not None else time.time())
    head = b""
    # C and W are fixed width: fill C after the offsets are known.
    w = _rec(b"W", b"%15d" % 0)
    t = _rec(b"T", b"%d 0" % arrival)
    s = _rec(b"S", sender.encode())
    s += b"".join(_rec(b"A", b"%s=%s" % (n.encode(), v.encode())) for n, v in attrs)
    rs = b"".join(_rec(b"D" if i in done else b"R", _rcpt(r)) for i, r in enumerate(recipients))
    c_len = 5 + 79
    content_offset = c_len + len(w) + len(t) + len(s) + len(rs)
    m = _rec(b"M")
    lines = b"".join(_rec(b"N", l.encode()) for l in body_lines)
    content_size = sum(len(l.encode()) + 1 for l in body_lines)
    extracted_offset = content_offset + len(m) + len(lines)
    size = b" ".join(b"%15d" % v for v in (content_size, content_offset, len(recipients), extracted_offset, 1))
    assert len(size) == 79
    head = _rec(b"C", size)
    return head + w + t + s + rs + m + lines + _rec(b"X") + _rec(b"E")


def queue_subdir(queue, qid, hashed=("deferred", "defer"), depth=1):
    if queue in hashed:
        return os.path.join(queue, *qid[:depth])
    return queue


def write_message(queue_root, queue, sender, recipients, body_lines=("Subject: test", "", "hello"),
                  arrival=None, done=(), uid=None, gid=None, ready=True, hashed=("deferred", "defer"), attrs=()):
    """Writes one message into `queue` and returns its queue ID."""
    data = queue_file_bytes(sender, recipients, list(body_lines), arrival, done, attrs)
    top = os.path.join(queue_root, queue)
    tmp = os.path.join(top, "tmp.%d.%d" % (os.getpid(), random.getrandbits(48)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        ino = os.fstat(fd).st_ino
        os.fchmod(fd, 0o700 if ready else 0o600)
        if uid is not None:
            os.fchown(fd, uid, gid)
    finally:
        os.close(fd)
    while True:
        usec = random.randrange(1000000)
        qid = "%05X%X" % (usec, ino)
        sub = os.path.join(queue_root, queue_subdir(queue, qid, hashed))
        os.makedirs(sub, exist_ok=True)
        dst = os.path.join(sub, qid)
        if not os.path.exists(dst):
            os.rename(tmp, dst)
            return qid


def write_defer_log(queue_root, qid, entries, uid=None, gid=None, hashed=("deferred", "defer")):
    """entries: [(recipient, reason)] as the bounce service's defer log."""
    sub = os.path.join(queue_root, queue_subdir("defer", qid, hashed))
    os.makedirs(sub, exist_ok=True)
    path = os.path.join(sub, qid)
    with open(path, "w") as f:
        for rcpt, reason in entries:
            f.write(f"recipient={rcpt}\nstatus=4.4.1\naction=delayed\nreason={reason}\nrelay=none\n"
                    f"time={int(time.time())}\n\n")
    if uid is not None:
        os.chown(path, uid, gid)
    return path


def find(queue_root, queue, qid):
    for dirpath, _, files in os.walk(os.path.join(queue_root, queue)):
        if qid in files:
            return os.path.join(dirpath, qid)
    return None


def ids(queue_root, queue):
    out = []
    for dirpath, _, files in os.walk(os.path.join(queue_root, queue)):
        out += [f for f in files if not f.startswith("tmp.")]
    return sorted(out)
