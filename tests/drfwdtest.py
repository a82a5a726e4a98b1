"""What the pcap and e2e tiers share: the drfwd binary under test (set by conftest.py
from --drfwd) and check()."""
import os

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_DRFWD = os.path.join(TOP, "build", "app", "drfwd")
drfwd = DEFAULT_DRFWD


def drfwd_binary():
    return drfwd


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)

