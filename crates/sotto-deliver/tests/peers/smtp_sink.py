"""A real SMTP server on loopback for Sotto's delivery tests (aiosmtpd).

Offers STARTTLS with the certificate it is given and, with --require-tls, refuses mail
before TLS; refuses recipients whose address starts with "reject"; writes each message it accepts to OUT/<n>.eml. Prints "ready" once listening
and stops when its standard input closes.
"""
import argparse
import asyncio
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, out):
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        path = os.path.join(self.out, f"{n:07d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 kept"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--require-tls", action="store_true")
    a = p.parse_args()
    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    controller = Controller(Keep(a.out), hostname="127.0.0.1", port=a.port, tls_context=tls, require_starttls=a.require_tls)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
