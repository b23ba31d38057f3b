#!/usr/bin/python3
"""Checks DKIM signatures with dkimpy (Debian's python3-dkim), an implementation independent of
the one that signed them. The public key comes from the TXT record that `mcap-notify
dkim-record` printed, so the record is checked too: no DNS is asked.

Usage: dkim_verify.py RECORD_FILE MESSAGE_FILE...

Prints `pass FILE` or `fail FILE` per message; exits 0 only when every message passes, 1 when
one fails, 2 on bad arguments or an unreadable record.
"""

import re
import sys

import dkim


def read_record(path):
    """(name, value) of the zone file line `NAME IN TXT ( "..." "..." )`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r'^(\S+)\s+IN\s+TXT\s+\((.*)\)\s*$', text, re.MULTILINE)
    if not match:
        raise ValueError("no `NAME IN TXT ( ... )` line in " + path)
    strings = re.findall(r'"([^"]*)"', match.group(2))
    if not strings or any(len(s) > 255 for s in strings):
        raise ValueError("TXT strings must be 1 to 255 characters: " + path)
    return match.group(1).rstrip(".").lower(), "".join(strings)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        name, value = read_record(argv[1])
    except (OSError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2

    def dnsfunc(query, timeout=5):
        if isinstance(query, bytes):
            query = query.decode("ascii")
        if query.rstrip(".").lower() == name:
            return value.encode("ascii")
        return None

    failed = False
    for path in argv[2:]:
        with open(path, "rb") as f:
            message = f.read()
        # A dump of what an SMTP server received may end its lines with LF alone.
        message = re.sub(rb"\r?\n", b"\r\n", message)
        ok = dkim.verify(message, dnsfunc=dnsfunc)
        print(("pass " if ok else "fail ") + path)
        failed = failed or not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
