"""A test SMTP server for the moments around the end of a message, by the recipient's first word:

  gate-*   announces `data RCPT` on stdout once the message is in, then waits for a line on
           stdin before it answers 250: the test acts while the send is in flight
  lost-*   takes the message, then drops the connection without answering (a lost
           acknowledgement after the final dot)
  last-*   answers 250, then closes the connection (the client's pooled connection goes stale)
  anything else is accepted.

Every message taken is logged as a JSON line (recipients, Message-ID) to LOG, whatever happens
to the answer.

usage: gate_smtp.py PORT LOG   (binds 127.0.0.1 only; prints `ready`; stops on SIGTERM)
"""
import asyncio
import json
import signal
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, log_path):
        self.log_path = log_path

    def log(self, envelope):
        message_id = ""
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                message_id = line.split(":", 1)[1].strip()
                break
            if not line:
                break
        with open(self.log_path, "a") as log:
            log.write(json.dumps({"rcpt_tos": envelope.rcpt_tos,
                                  "message_id": message_id}) + "\n")

    async def handle_DATA(self, server, session, envelope):
        self.log(envelope)
        kind = envelope.rcpt_tos[0].split("@")[0].split("-")[0]
        if kind == "gate":
            print("data " + envelope.rcpt_tos[0], flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        elif kind == "lost":
            # Gone before the answer: what the server writes next reaches no one.
            server.transport.abort()
        elif kind == "last":
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 OK queued"


def main():
    port, log_path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Handler(log_path), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
