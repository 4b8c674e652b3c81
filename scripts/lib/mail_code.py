#!/usr/bin/env python3
"""The 6-digit code of the newest mail with a subject to an address, read from the stack's
SMTP server (mailtutan, `MAILTUTAN_URL`).

    mail_code.py EMAIL [SUBJECT]      prints the code (default subject: the verification mail)
"""
import json
import os
import sys
import time
import urllib.request

VERIFICATION = "Confirm your email address"


def code(email, subject=VERIFICATION, limit=60):
    """Waits up to `limit` seconds for the mail; returns its code."""
    base = os.environ["MAILTUTAN_URL"]
    deadline = time.time() + limit
    while time.time() < deadline:
        with urllib.request.urlopen(f"{base}/api/messages") as r:
            messages = json.load(r)
        for m in reversed(messages):
            if email in json.dumps(m.get("recipients")) and m.get("subject") == subject:
                with urllib.request.urlopen(f"{base}/api/messages/{m['id']}/plain") as r:
                    words = r.read().decode().replace(".", " ").split()
                return next(w for w in words if len(w) == 6 and w.isdigit())
        time.sleep(0.2)
    raise SystemExit(f"no mail '{subject}' to {email} within {limit} s")


if __name__ == "__main__":
    print(code(*sys.argv[1:3]))
