"""A small SMTP server on loopback for tests: it accepts, refuses (4xx/5xx) or stalls.

It stands in for the outside world's mail server, so a real Celery worker can be watched
sending through Django's SMTP backend. Besides its `mode` it can refuse every recipient with
a 451 until a moment (`tempfail_until`, an outage), answer the end of DATA late after
accepting the message (`reply_delay`), answer QUIT late (`quit_delay`), and call
`on_accept` once it has accepted a message and before it replies (a fault at that moment).
"""

import select
import socket
import socketserver
import threading
import time


class Handler(socketserver.StreamRequestHandler):
    def reply(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")
        self.wfile.flush()

    def client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def handle(self):
        server: FakeSMTP = self.server.owner
        self.reply(b"220 fake.smtp ESMTP")
        lines: list[bytes] = []
        in_data = False
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if in_data:
                if line.rstrip(b"\r\n") != b".":
                    lines.append(line)
                    continue
                in_data = False
                if server.mode == "stall":
                    server.stalled.set()
                    deadline = time.monotonic() + server.stall_seconds
                    while time.monotonic() < deadline:
                        if self.client_gone():
                            return  # the sender died before we accepted: nothing delivered
                        time.sleep(0.05)
                server.accepted.append(b"".join(lines))
                lines = []
                if server.on_accept is not None:
                    server.on_accept()
                # Accepted already: a reply that comes late still means the message is taken.
                time.sleep(server.reply_delay)
                self.reply(b"250 2.0.0 queued")
                continue
            command = line[:4].upper()
            if command in (b"EHLO", b"HELO"):
                self.reply(b"250 fake.smtp")
            elif command == b"MAIL":
                server.attempts += 1
                if server.mode == "tempfail":
                    self.reply(b"451 4.3.0 Mailbox temporarily unavailable")
                elif server.mode == "permfail":
                    self.reply(b"550 5.1.1 No such user")
                else:
                    self.reply(b"250 2.1.0 OK")
            elif command == b"RCPT":
                server.recipients.append((time.monotonic(), line[8:].strip(b" <>\r\n").decode()))
                if time.monotonic() < server.tempfail_until:
                    self.reply(b"451 4.3.0 Try again later")
                else:
                    self.reply(b"250 2.1.5 OK")
            elif command == b"DATA":
                in_data = True
                self.reply(b"354 End data with <CR><LF>.<CR><LF>")
            elif command == b"QUIT":
                server.quits.append(time.time())
                server.quitting.set()
                time.sleep(server.quit_delay)
                self.reply(b"221 2.0.0 Bye")
                return
            else:
                self.reply(b"250 OK")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeSMTP:
    def __init__(self):
        self.mode = "accept"
        self.stall_seconds = 30.0
        self.accepted: list[bytes] = []
        self.attempts = 0
        self.stalled = threading.Event()
        self.tempfail_until = 0.0  # time.monotonic() until which every RCPT gets a 451
        self.recipients: list[tuple[float, str]] = []  # (time.monotonic(), address) per RCPT
        self.reply_delay = 0.0
        self.quit_delay = 0.0
        self.quits: list[float] = []  # time.time() of each QUIT received
        self.quitting = threading.Event()
        self.on_accept = None
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def attempts_by_address(self) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {}
        for moment, address in self.recipients:
            times.setdefault(address, []).append(moment)
        return times

    def notification_ids(self) -> list[int]:
        ids = []
        for message in self.accepted:
            for line in message.split(b"\n"):
                if line.lower().startswith(b"x-smartjamp-notification:"):
                    ids.append(int(line.split(b":", 1)[1].strip()))
        return ids
