#!/usr/bin/python3
"""A local SMTP server for the review-flow tests (Debian's python3-aiosmtpd).

Usage: smtp_sink.py PORT MAILDIR [FAIL_AT]
Stores every accepted message as MAILDIR/new/NNNN.eml, in the order they
arrive, with an X-Envelope-To: header listing the envelope recipients.
With FAIL_AT, the FAIL_AT-th message (1-based) is refused once with 421,
as a server that drops the connection. Prints "ready" when it listens and
runs until its standard input is closed.
"""
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, maildir, fail_at):
        self.maildir = maildir
        self.fail_at = fail_at
        self.seen = 0
        self.stored = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.fail_at and self.seen == self.fail_at:
            return "421 test server: closing the connection"
        self.stored += 1
        path = os.path.join(self.maildir, "new", "%04d.eml" % self.stored)
        with open(path, "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\n")
            f.write(envelope.original_content)
        return "250 OK"


def main():
    port = int(sys.argv[1])
    maildir = sys.argv[2]
    fail_at = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    controller = Controller(Sink(maildir, fail_at), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
