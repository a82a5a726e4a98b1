"""What the pcap and e2e tiers share: the drfwd binary under test (set by conftest.py
from --drfwd), check(), and a skip where no network namespace can be created."""
import functools
import os
import subprocess

import pytest

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_DRFWD = os.path.join(TOP, "build", "app", "drfwd")
drfwd = DEFAULT_DRFWD


def drfwd_binary():
    return drfwd


def check(cond, msg):
    __tracebackhide__ = True  # pytest shows the failing check in the test, not this frame
    if not cond:
        raise AssertionError(msg)


@functools.lru_cache(maxsize=None)
def netns_unavailable():
    """None if this process can create a network namespace, else why not. Tries once per
    run with a namespace of its own, deleted at once."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    ns = "drfwd-probe-%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot create a network namespace: " + r.stderr.strip()
    subprocess.run(["ip", "netns", "del", ns], check=True)
    return None


def skip_without_netns():
    """Skips the calling test, with the reason, where netns_unavailable()."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
