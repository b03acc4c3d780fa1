"""A local SMTP server for Chamberlain's email tests, on aiosmtpd (PyPI).

Every accepted message is written to OUTDIR as <n>.json: envelope sender, recipients, the
raw message, whether the session used TLS and which user authenticated. The file OUTDIR/mode,
read per message, makes the server misbehave on purpose:
  ok        accept (default)
  tempfail  answer DATA with 451 (a temporary failure: the sender should retry)
  reject    answer RCPT TO with 550 (a permanent failure)
  hang      never answer DATA (the sender should time out)

Usage: smtp_sink.py OUTDIR PORT [--auth USER:PASSWORD] [--starttls CERT KEY]
Prints "READY <port>" when it accepts connections.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def mode(outdir):
    try:
        with open(os.path.join(outdir, "mode")) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return "ok"


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if mode(self.outdir) == "reject":
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        m = mode(self.outdir)
        if m == "hang":
            await asyncio.sleep(3600)
        if m == "tempfail":
            return "451 4.3.0 temporary failure, try again later"
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "user": session.auth_data if session.authenticated else None,
        }
        tmp = os.path.join(self.outdir, ".%d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.outdir, "%d.json" % n))
        return "250 2.0.0 accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("outdir")
    p.add_argument("port", type=int)
    p.add_argument("--auth")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    a = p.parse_args()
    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode())

        kwargs.update(authenticator=authenticator, auth_required=True)
    if a.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.starttls[0], a.starttls[1])
        kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    else:
        kwargs.update(auth_require_tls=False)
    controller = Controller(Sink(a.outdir), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print("READY %d" % a.port, flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
