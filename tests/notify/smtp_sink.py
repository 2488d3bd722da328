"""A real SMTP server for the notification tests (aiosmtpd): STARTTLS required, AUTH LOGIN/PLAIN
required, every accepted message written as <n>.eml into a directory (and decoded, as one JSON line of
mail.jsonl), and the first N messages
refused with a temporary error (451) so the relay's retry can be seen.

    python smtp_sink.py --port P --dir D --cert C --key K --user U --password W [--refuse-first N]
"""
import argparse
import email
import email.policy
import json
import logging
import os
import ssl
import sys
import warnings

# aiosmtpd's own use of its deprecated Session.login_data is not the test's concern (it says
# so as a warning and in its log).
warnings.simplefilter("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, refuse_first):
        self.directory = directory
        self.refuse_left = refuse_first
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_left > 0:
            self.refuse_left -= 1
            return "451 4.3.0 try again later (refused on purpose by the test)"
        self.count += 1
        path = os.path.join(self.directory, f"{self.count:04}.eml")
        with open(path + ".tmp", "wb") as out:
            out.write(f"X-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            out.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            out.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        # The message as a mail client reads it: headers and body decoded (RFC 2047 subject,
        # base64 or quoted-printable UTF-8 text), one JSON line each.
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        with open(os.path.join(self.directory, "mail.jsonl"), "a") as log:
            log.write(json.dumps({
                "to": envelope.rcpt_tos,
                "from": str(message["from"]),
                "subject": str(message["subject"]),
                "message_id": str(message["message-id"]),
                "content_type": str(message["content-type"]),
                "body": body.get_content() if body is not None else "",
                "tls": bool(session.ssl),
                "authenticated": bool(session.authenticated),
            }, ensure_ascii=False) + "\n")
        return "250 2.0.0 stored"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--refuse-first", type=int, default=0)
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == args.user and auth_data.password.decode() == args.password
        )
        return AuthResult(success=ok)

    controller = Controller(
        Sink(args.dir, args.refuse_first),
        hostname="127.0.0.1",
        port=args.port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
