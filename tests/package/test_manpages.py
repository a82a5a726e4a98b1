"""drfwd(8) and drfwdctl(8) list exactly the options the binaries' --help prints (the
descriptions live in app/drfwd/options.cpp and app/drfwdctl/main.cpp, which the unit
tests do not link; drfwd.conf(5) against the command table is tests/unit/test_manpages.cpp).
No EAL, no root: about a second."""
import os
import re
import subprocess

import drfwdtest
import manpage

TOP = drfwdtest.TOP
MAN = os.path.join(TOP, "docs", "man")


def drfwdctl():
    return os.path.join(os.path.dirname(drfwdtest.drfwd), "drfwdctl")


def help_options_drfwd():
    """The options of `drfwd -- --help`: boost's option column ("-f [ --config ] FILE")."""
    r = subprocess.run([drfwdtest.drfwd, "--", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    opts = set()
    for l in r.stdout.splitlines():
        m = re.match(r"^  (-\w \[ --[\w-]+ \]|--[\w-]+)", l)
        if m:
            opts |= manpage.options_in(m.group(1))
    assert "--config" in opts and "-f" in opts, r.stdout
    return opts


def help_options_drfwdctl():
    """The options drfwdctl's usage names (its -h/--help itself is not listed there)."""
    r = subprocess.run([drfwdctl(), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    opts = manpage.options_in(r.stdout) | {"-h", "--help"}
    assert "-s" in opts and "-R" in opts, r.stdout
    return opts


def man_options(page):
    opts = set()
    for heading in manpage.option_headings(os.path.join(MAN, page)):
        opts |= manpage.options_in(heading)
    return opts


def test_drfwd_man_page_lists_every_option_of_help():
    helped, documented = help_options_drfwd(), man_options("drfwd.8")
    assert not helped - documented, "in drfwd -- --help, not in docs/man/drfwd.8's OPTIONS: %s" % sorted(
        helped - documented)
    assert not documented - helped, "in docs/man/drfwd.8's OPTIONS, not in drfwd -- --help: %s" % sorted(
        documented - helped)


def test_drfwdctl_man_page_lists_every_option_of_help():
    helped, documented = help_options_drfwdctl(), man_options("drfwdctl.8")
    assert helped == documented, "drfwdctl --help %s, docs/man/drfwdctl.8 %s" % (sorted(helped), sorted(documented))


def test_bash_completion_offers_every_drfwdctl_option():
    with open(os.path.join(TOP, "debian", "drfwdctl.bash-completion")) as f:
        text = f.read()
    m = re.search(r'compgen -W "(-s [^"]*)"', text)
    assert m, "no option list in debian/drfwdctl.bash-completion"
    offered = set(m.group(1).split())
    assert offered == help_options_drfwdctl(), "completion offers %s" % sorted(offered)
