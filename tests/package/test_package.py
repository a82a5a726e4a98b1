"""The Debian package, as an operator gets it: built with tools/package.sh from the
release build under test (--drfwd's build directory: no rebuild), lintian (no error),
installed with dpkg -i (files, modes, conffiles, the unit neither enabled nor started,
systemd-analyze verify clean), the installed drfwd runs and accepts the shipped
configuration, installed again over itself (an operator's edit of a conffile kept
without a prompt), purged (nothing left). Root only; skipped, with the reason, where a
tool is missing or a drfwd package is already installed (an operator's installation is
never touched). Everything is built in a temporary directory; the package is purged
even when a test fails."""
import os
import shutil
import stat
import subprocess
import time

import pytest

import drfwdtest

TOP = drfwdtest.TOP
TOOLS = ["dpkg", "dpkg-buildpackage", "dh", "lintian", "systemd-analyze", "systemctl"]
UNIT = "/lib/systemd/system/drfwd.service"
CONFFILES = ["/etc/default/drfwd", "/etc/drfwd/drfwd.conf"]
FILES = {  # path: mode
    "/usr/sbin/drfwd": 0o755,
    "/usr/sbin/drfwdctl": 0o755,
    "/etc/drfwd/drfwd.conf": 0o644,
    "/etc/default/drfwd": 0o644,
    UNIT: 0o644,
    "/usr/libexec/drfwd/drfwd-hugepages": 0o755,
    "/usr/share/drfwd/setup-nic.sh": 0o755,
    "/usr/share/bash-completion/completions/drfwdctl": 0o644,
    "/usr/share/man/man8/drfwd.8.gz": 0o644,
    "/usr/share/man/man8/drfwdctl.8.gz": 0o644,
    "/usr/share/man/man5/drfwd.conf.5.gz": 0o644,
    "/usr/share/doc/drfwd/install.md.gz": 0o644,
    "/usr/share/doc/drfwd/copyright": 0o644,
}
GONE = ["/usr/sbin/drfwd", "/usr/sbin/drfwdctl", "/etc/drfwd", "/etc/default/drfwd", UNIT,
        "/usr/libexec/drfwd", "/usr/share/drfwd", "/usr/share/doc/drfwd",
        "/usr/share/bash-completion/completions/drfwdctl"]


def run(*cmd, timeout=300, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def package_state():
    """dpkg's status of the drfwd package, "" when dpkg knows none."""
    r = run("dpkg-query", "-W", "-f=${Status}", "drfwd")
    return r.stdout.strip() if r.returncode == 0 else ""


def why_skip():
    if os.geteuid() != 0:
        return "needs root (dpkg -i / dpkg -P)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return "missing %s (tools/install-deps.sh: debhelper dpkg-dev lintian systemd)" % " ".join(missing)
    state = package_state()
    if state and not state.endswith("not-installed"):
        return "a drfwd package is already on this machine (%s): not touching it" % state
    build = os.path.dirname(os.path.dirname(drfwdtest.drfwd))
    for b in ("drfwd", "drfwdctl"):
        if not os.access(os.path.join(build, "app", b), os.X_OK):
            return "no %s/app/%s (the build under test)" % (build, b)
    return None


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    reason = why_skip()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("dist")
    build = os.path.dirname(os.path.dirname(drfwdtest.drfwd))
    start = time.monotonic()
    r = run(os.path.join(TOP, "tools", "package.sh"), "--prebuilt", build, str(out),
            env=dict(os.environ, TMPDIR=str(tmp_path_factory.getbasetemp())))
    print("tools/package.sh --prebuilt: %.1f s" % (time.monotonic() - start))
    assert r.returncode == 0, r.stdout + r.stderr
    debs = sorted(p for p in os.listdir(out) if p.endswith(".deb"))
    assert len(debs) == 1, "expected one .deb, got %s" % debs
    assert not any(p.startswith("drfwd_") and p.endswith(".deb") for p in os.listdir(os.path.dirname(TOP))), \
        "tools/package.sh wrote a .deb next to the source tree"
    return os.path.join(out, debs[0])


def purge():
    r = run("dpkg", "-P", "drfwd")
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def installed(deb):
    try:
        r = run("dpkg", "-i", deb)
        assert r.returncode == 0, r.stdout + r.stderr
        yield deb
    finally:
        purge()  # even when a test failed: this machine is left as it was


def test_lintian_reports_no_error(deb):
    start = time.monotonic()
    r = run("lintian", "--no-tag-display-limit", deb)
    print("lintian: %.1f s\n%s" % (time.monotonic() - start, r.stdout))
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, "\n".join(errors)
    assert r.returncode == 0, r.stdout + r.stderr


def test_files_modes_and_conffiles(installed):
    for path, mode in FILES.items():
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == mode, "%s: mode %o, expected %o" % (path, stat.S_IMODE(st.st_mode), mode)
        assert st.st_uid == 0 and st.st_gid == 0, path
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "drfwd").stdout
    for c in CONFFILES:
        assert " %s " % c in conffiles, "%s is not a conffile:\n%s" % (c, conffiles)
    with open("/etc/drfwd/drfwd.conf") as f:
        active = [l for l in f.read().splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert not active, "the shipped drfwd.conf should configure nothing: %s" % active


def test_unit_installed_not_enabled_not_started(installed):
    r = run("systemctl", "is-enabled", "drfwd")
    assert r.stdout.strip() == "disabled", r.stdout + r.stderr
    assert not os.path.exists("/etc/systemd/system/multi-user.target.wants/drfwd.service")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink("/proc/%s/exe" % pid)
        except OSError:
            continue
        assert not exe.startswith("/usr/sbin/drfwd"), "the package started drfwd (pid %s)" % pid


def test_systemd_analyze_verify_is_clean(installed):
    r = run("systemd-analyze", "verify", UNIT)
    # It warns (exit 0) on unknown keys and bad values: any line about the unit fails.
    said = [l for l in (r.stdout + r.stderr).splitlines() if "drfwd" in l]
    assert r.returncode == 0 and not said, r.stdout + r.stderr


def test_installed_binaries_run(installed):
    r = run("/usr/sbin/drfwd", "--version", timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("drfwd "), r.stdout + r.stderr
    r = run("/usr/sbin/drfwdctl", "--help", timeout=30)
    assert r.returncode == 0 and "Usage: drfwdctl" in r.stdout, r.stdout + r.stderr


def test_shipped_configuration_passes_check_config(installed):
    # What the unit's ExecStartPre and ExecReload run, on the shipped file.
    r = run("/usr/sbin/drfwd", "--check-config", "/etc/drfwd/drfwd.conf", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_reinstall_keeps_an_edited_conffile_without_a_prompt(installed):
    edit = "# an operator's edit\n"
    with open("/etc/drfwd/drfwd.conf", "a") as f:
        f.write(edit)
    r = run("dpkg", "-i", installed, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Configuration file" not in r.stdout, "dpkg asked about a conffile:\n" + r.stdout
    with open("/etc/drfwd/drfwd.conf") as f:
        assert f.read().endswith(edit), "the edit of /etc/drfwd/drfwd.conf was lost"


def test_purge_removes_everything(installed):
    purge()
    assert package_state() in ("", "unknown ok not-installed"), package_state()
    left = [p for p in GONE if os.path.lexists(p)]
    assert not left, "left after dpkg -P: %s" % left
