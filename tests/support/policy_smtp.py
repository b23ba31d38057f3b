"""A test SMTP server that answers per recipient, by the first word of the local part.

  hard-*     550 5.1.1 user unknown         full-*    552 5.2.2 mailbox full
  soft-*     451 4.3.0 try again later      policy-*  554 5.7.1 blocked on policy grounds
  sender-*   553 5.1.8 sender domain bad    disabled-* 550 5.2.1 mailbox disabled
  big-*      552 5.3.4 message too big (after DATA)
  drop-*     421 4.4.2 and the connection closes
  anything else is accepted; accepted messages are logged as JSON lines to LOG.

usage: policy_smtp.py PORT LOG   (binds 127.0.0.1 only; stops on SIGTERM)
"""
import asyncio
import json
import signal
import sys

from aiosmtpd.controller import Controller

REPLIES = {
    "hard": "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    "full": "552 5.2.2 <{rcpt}>: Mailbox full",
    "soft": "451 4.3.0 <{rcpt}>: Temporary lookup failure, try again later",
    "policy": "554 5.7.1 Client host rejected: blocked using bl.example.net",
    "sender": "553 5.1.8 <{sender}>: Sender address rejected: Domain not found",
    "disabled": "550 5.2.1 <{rcpt}>: Mailbox disabled, not accepting messages",
}
# Refused once the message has been read.
DATA_REPLIES = {
    "big": "552 5.3.4 Message size exceeds fixed maximum message size",
}


def kind_of(address):
    return address.split("@")[0].split("-")[0]


class Handler:
    def __init__(self, log_path):
        self.log_path = log_path

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        kind = kind_of(address)
        if kind == "drop":
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.4.2 Closing connection"
        if kind in REPLIES:
            return REPLIES[kind].format(rcpt=address, sender=envelope.mail_from)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            if kind_of(rcpt) in DATA_REPLIES:
                return DATA_REPLIES[kind_of(rcpt)]
        message_id = ""
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                message_id = line.split(":", 1)[1].strip()
                break
            if not line:
                break
        with open(self.log_path, "a") as log:
            log.write(json.dumps({"mail_from": envelope.mail_from,
                                  "rcpt_tos": envelope.rcpt_tos,
                                  "message_id": message_id}) + "\n")
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
