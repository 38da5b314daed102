"""Who holds a lease: ``host:pid:nonce``, so a dead local holder can be recognised at once."""

from __future__ import annotations

import os
import secrets
import socket

import psutil


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def is_dead_local_owner(owner: str | None) -> bool:
    """True when ``owner`` ran on this host in a process that no longer exists."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
