"""A real HTTPS webhook receiver for the notification tests. Every POST is checked with the
Standard Webhooks reference library (`standardwebhooks`, an implementation independent of the
relay's) against the secret in --secret-file (read per request, so the test can write it once
the endpoint exists), and recorded as one JSON line in --log: headers, body, whether the
signature verified. The first N requests are answered 503 so the relay's retry can be seen.

    python webhook_sink.py --port P --cert C --key K --secret-file S --log L [--refuse-first N]
"""
import argparse
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--refuse-first", type=int, default=0)
    args = parser.parse_args()
    lock = threading.Lock()
    state = {"refuse_left": args.refuse_first}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                with open(args.secret_file) as f:
                    secret = f.read().strip()
                Webhook(secret).verify(body, headers)
                verified = True
                error = ""
            except Exception as e:  # noqa: BLE001 - any failure is recorded, not raised
                verified = False
                error = repr(e)
            with lock:
                refused = state["refuse_left"] > 0
                if refused:
                    state["refuse_left"] -= 1
                with open(args.log, "a") as log:
                    log.write(json.dumps({
                        "path": self.path,
                        "headers": {k: headers.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")},
                        "body": body.decode("utf-8", "replace"),
                        "verified": verified,
                        "error": error,
                        "refused": refused,
                    }, ensure_ascii=False) + "\n")
            self.send_response(503 if refused else 204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
