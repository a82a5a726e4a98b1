"""A man page's lines as a reader sees them, for the checks that keep the pages true
(the same reading as tests/unit/test_manpages.cpp): comments and layout requests
dropped, .B/.I join their arguments with blanks, .BI/.BR/... alternate fonts without,
font escapes dropped, \\- and \\e turned back into - and \\."""
import re
import shlex

JOIN = {"B", "I"}
ALTERNATE = {"BI", "IB", "BR", "RB", "IR", "RI"}


def unescape(s):
    s = re.sub(r"\\f(\(..|.)", "", s)
    return s.replace("\\-", "-").replace("\\&", "").replace("\\(dq", '"').replace("\\e", "\\")


def lines(path):
    """[(section, heading, text)]: heading is True for the line after .TP."""
    out = []
    section = ""
    after_tp = False
    with open(path) as f:
        for l in f.read().splitlines():
            if l.startswith('.\\"'):
                continue
            if l.startswith("."):
                macro, _, rest = l[1:].partition(" ")
                args = shlex.split(rest.replace("\\", "\\\\"), posix=True) if rest else []
                args = [a.replace("\\\\", "\\") for a in args]
                if macro == "SH":
                    section = " ".join(args)
                    continue
                if macro == "TP":
                    after_tp = True
                    continue
                if macro in JOIN:
                    text = " ".join(args)
                elif macro in ALTERNATE:
                    text = "".join(args)
                else:
                    continue
            else:
                text = l
            out.append((section, after_tp, unescape(text)))
            after_tp = False
    return out


def option_headings(path, section="OPTIONS"):
    """The .TP headings of a section: the option lines."""
    return [t for s, h, t in lines(path) if h and s == section]


def options_in(text):
    """The long (--name) and short (-x) options named in text."""
    longs = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    shorts = set(re.findall(r"(?<![\w-])-[A-Za-z](?![\w-])", text))
    return longs | shorts
