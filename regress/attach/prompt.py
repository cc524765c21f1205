#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal, answers its password prompt
once it shows, and prints everything the terminal showed, then the exit
status on a last line "exit N". Usage: prompt.py PASSWORD CMD...
"""
import os
import pty
import select
import sys
import time

password = sys.argv[1].encode() + b"\n"
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
seen = b""
answered = False
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    if not answered and b"Password for" in seen:
        # Echo goes off before the prompt is written: what we type now
        # must not show.
        os.write(fd, password)
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.stdout.write("\nexit %d\n" % os.waitstatus_to_exitcode(status))
