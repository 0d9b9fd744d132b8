"""sink.py - a small SMTP server for tests: it accepts (or refuses) mail and keeps it.

Runs in a thread with its own asyncio loop on 127.0.0.1. Each accepted
message is kept as (mail_from, [rcpt], data bytes) in `messages`. `mode`
decides the answers and may be changed while it runs:
  "accept"        250 for everything
  "tempfail"      451 4.3.0 at RCPT (the remote is up but busy)
  "reject"        550 5.1.1 at RCPT (always for recipients starting "bad")
  down()/up()     close and reopen the listener (connections refused)
Connections, concurrent sessions and their peak are counted, so tests can
check connection reuse and concurrency limits. With `on_message`, a callable
(mail_from, rcpts, data) -> reply line, run on a worker thread after the
message is kept, the reply to its end of data is that line: a content filter
that answers only once it has passed the message on (tests/integration/
test_filter.py). With lmtp=True it speaks LMTP (RFC 2033): LHLO, and one
reply per accepted recipient at the end of data.
"""
import asyncio
import socket
import threading
import time


class Sink:
    def __init__(self, port=0, mode="accept", on_message=None, lmtp=False):
        self.mode = mode
        self.lmtp = lmtp
        self.on_message = on_message
        self.messages = []
        self.connections = 0
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.writers = set()
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.port = port
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._ready.wait(10)
        if mode != "down":
            self.up()

    # --- control (from the test thread) ---------------------------------
    def up(self):
        fut = asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        fut.result(10)

    def down(self):
        fut = asyncio.run_coroutine_threadsafe(self._close(), self.loop)
        fut.result(10)

    def stop(self):
        try:
            self.down()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():
                self.loop.close()

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait_count(self, n, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.count() >= n:
                return True
            time.sleep(0.05)
        raise AssertionError(f"sink has {self.count()} messages, expected {n}")

    # --- server -----------------------------------------------------------
    def _run(self):
        asyncio.set_event_loop(self.loop)
        self._ready.set()
        self.loop.run_forever()

    async def _listen(self):
        if self.server is not None:
            return
        if self.port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self.server = await asyncio.start_server(self._session, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self):
        # Down means down: the listener and every open session (a client's
        # cached connection would otherwise keep delivering).
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.writers):
            w.close()

    async def _session(self, reader, writer):
        self.writers.add(writer)
        with self.lock:
            self.connections += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            await self._talk(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with self.lock:
                self.active -= 1
            self.writers.discard(writer)
            writer.close()

    async def _talk(self, reader, writer):
        def send(line):
            writer.write(line.encode() + b"\r\n")

        send("220 sink.test ESMTP")
        await writer.drain()
        mail_from, rcpts = None, []
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO", "LHLO") and (verb == "LHLO") == self.lmtp:
                if verb in ("EHLO", "LHLO"):
                    send("250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n250 DSN")
                else:
                    send("250 sink.test")
            elif verb == "MAIL":
                mail_from, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
                send("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = cmd[8:].split(">")[0].lstrip("<")
                if self.mode == "reject" or addr.startswith("bad"):
                    send("550 5.1.1 <x>: Recipient address rejected: no such user")
                elif self.mode == "tempfail":
                    send("451 4.3.0 try again later")
                else:
                    rcpts.append(addr)
                    send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    send("554 5.5.1 no valid recipients")
                    await writer.drain()
                    continue
                send("354 go ahead")
                await writer.drain()
                data = bytearray()
                while True:
                    l = await reader.readline()
                    if not l:
                        return  # dropped mid-message: nothing is kept
                    if l == b".\r\n":
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data += l
                with self.lock:
                    self.messages.append((mail_from, rcpts, bytes(data)))
                    n = len(self.messages)
                if self.lmtp:
                    for r in rcpts:
                        send(f"250 2.0.0 <{r}> Ok: saved as S{n}")
                elif self.on_message:
                    reply = await asyncio.get_running_loop().run_in_executor(
                        None, self.on_message, mail_from, list(rcpts), bytes(data))
                    send(reply)
                else:
                    send(f"250 2.0.0 Ok: queued as S{n}")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                send("250 2.0.0 Ok")
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                await writer.drain()
                return
            else:
                send("502 5.5.2 Error: command not recognized")
            await writer.drain()
