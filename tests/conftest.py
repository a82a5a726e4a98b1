"""pytest setup for the Python tiers (tests/pcap, tests/e2e); meson runs each file as
`python3 -m pytest ... FILE --drfwd=PATH` (tests/meson.build).

- --drfwd: the binary under test (default build/app/drfwd).
- Sanitizer builds set DRFWD_SANITIZER_DIR: every drfwd a test starts writes any
  AddressSanitizer, LeakSanitizer or UBSan report there (UBSan halting on the first),
  and the run fails if a report appeared, whatever the tests themselves checked (exit
  status, output, expected refusals).
- A run whose tests were all skipped exits 77, which meson shows as SKIP.
"""
import os
import shutil

import pytest

import drfwdtest

MESON_SKIP = 77
outcomes = {}  # test id -> "failed" if any phase failed, else "skipped" if one skipped, else "passed"


def pytest_addoption(parser):
    parser.addoption("--drfwd", metavar="PATH", default=drfwdtest.DEFAULT_DRFWD,
                     help="the drfwd binary to test (default: build/app/drfwd)")


def sanitizer_dir():
    return os.environ.get("DRFWD_SANITIZER_DIR")


def pytest_configure(config):
    drfwdtest.drfwd = os.path.abspath(config.getoption("drfwd"))
    san = sanitizer_dir()
    if san:
        shutil.rmtree(san, ignore_errors=True)
        os.makedirs(san)
        log = os.path.join(san, "report")
        os.environ["ASAN_OPTIONS"] = "detect_leaks=1:log_path=%s" % log
        os.environ["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:log_path=%s" % log


def pytest_runtest_logreport(report):
    if report.failed:
        outcomes[report.nodeid] = "failed"
    elif report.skipped and outcomes.get(report.nodeid) != "failed":
        outcomes[report.nodeid] = "skipped"
    else:
        outcomes.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == pytest.ExitCode.OK and outcomes and set(outcomes.values()) == {"skipped"}:
        session.exitstatus = MESON_SKIP
    san = sanitizer_dir()
    reports = sorted(os.listdir(san)) if san and os.path.isdir(san) else []
    if reports:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        write = tr.write_line if tr else print
        for f in reports:
            with open(os.path.join(san, f)) as r:
                write("FAIL sanitizer report %s:\n%s" % (f, r.read()))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
