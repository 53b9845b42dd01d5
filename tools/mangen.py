#!/usr/bin/env python3
"""mangen.py - writes the man pages (section 3 per function, corio(7) as the overview) from the headers' comments.

The source is the one tools/refgen.py reads for docs/reference/: each documented declaration (a function, or the
functions sharing one comment) becomes man3/NAME.3, with the types declared just before it folded in; every
other name it covers (the other functions, the types, enum constants) gets a one-line `.so` page pointing to it,
so `man 3 corio_task_opts` and `man 3 CORIO_SEL_TASK` work too. corio(7) is README.md's first paragraph, the
conventions at the top of corio.h, examples/hello.c and the list of the pages. make install installs them;
`make test` checks that each renders and that every documented name has one (tests/check_man.sh).

  tools/mangen.py OUTDIR HEADER...   writes OUTDIR/man3/*.3 and OUTDIR/man7/corio.7 (corio.h must be first)
  tools/mangen.py --list HEADER...   prints the paths it would write, relative to OUTDIR
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refgen  # noqa: E402  (the parser the reference is made with)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def esc(text):
    """text with roff's special characters escaped (backslash, minus, non-ASCII), for one line of output."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)


def line(text):
    """A line of running text: escaped, `code` in bold, and never read as a request."""
    out = esc(text.strip())
    out = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", out)
    return "\\&" + out if out.startswith((".", "'")) else out


def prose(text):
    """Roff for a doc comment: blank lines end paragraphs; "- x" and "1. x" lines start list items, and so does
    "  -EINVAL    what it means" (a table of errors); lines indented by 4 after a blank line are code."""
    out, mode = [], None  # mode: None (running text), "list" (inside an item), "code"
    for raw in text.split("\n"):
        indent = len(raw) - len(raw.lstrip())
        item = re.match(r"\s*(-|\d+\.)\s+(.*)", raw) if indent <= 3 else None
        term = re.match(r"\s{1,3}(\S.*?)\s{2,}(\S.*)", raw)
        if not raw.strip():
            if mode == "code":
                out += [".fi", ".RE"]
            if out and out[-1] != ".PP":
                out.append(".PP")
            mode = None
        elif mode == "code" or (indent >= 4 and mode is None and (not out or out[-1] == ".PP")):
            if mode != "code":
                out += [".RS 4", ".nf"]
                mode = "code"
            out.append("\\&" + esc(raw[4:]))
        elif item:
            out += [".IP \\(bu 2" if item.group(1) == "-" else ".IP %s 4" % item.group(1), line(item.group(2))]
            mode = "list"
        elif term:
            out += [".TP 16", "\\fB%s\\fR" % line(term.group(1)), line(term.group(2))]
            mode = "list"
        elif 1 <= indent <= 3:
            out += [".IP", line(raw)]
            mode = "list"
        elif indent == 0 and mode == "list":
            out += [".PP", line(raw)]
            mode = None
        else:
            out.append(line(raw))
    if mode == "code":
        out += [".fi", ".RE"]
    return out


def code(text):
    return [".nf"] + ["\\&" + esc(c) for c in text.replace("CORIO_EXTERN ", "").split("\n")] + [".fi"]


def summary(doc, lower=True):
    """The NAME line's description: the doc's first clause, lower-cased unless it starts with an acronym."""
    flat = " ".join(doc.split())
    depth, end = 0, len(flat)
    for i, c in enumerate(flat):
        depth += (c in "([") - (c in ")]")
        if depth == 0 and c in ".:;" and (i + 1 == len(flat) or flat[i + 1] == " "):
            end = i
            break
    s = flat[:end]
    if len(s) > 90:
        s = s[:87].rsplit(" ", 1)[0] + "..."
    if lower and len(s) > 1 and s[0].isupper() and not s[1].isupper():
        s = s[0].lower() + s[1:]
    elif not lower:
        s = s[:1].upper() + s[1:]
    return s


def names_of(item):
    """The names an item declares: refgen's, with an enum's constants split out of their comments."""
    out = []
    for n in item[0]:
        for part in re.sub(r"/\*.*?\*/", "", n or "", flags=re.S).split(","):
            m = re.match(r"\s*([A-Za-z_]\w*)", part)
            if m:
                out.append(m.group(1))
    return out


def pages(headers):
    """[(page name, header, section title, section intro, [(names, code, doc)], link names)] in header order."""
    out = []
    for h in headers:
        for title, intro, items in refgen.parse(h):
            funcs = [i for i, it in enumerate(items) if "CORIO_EXTERN" in it[1]]
            parts = {i: [items[i]] for i in funcs}
            for i, it in enumerate(items):
                if i in parts:
                    continue
                # a type goes to the first function of its section that names it, else to the next one, else the last
                mention = [f for f in funcs if any(re.search(r"\b%s\b" % re.escape(n), items[f][1])
                                                   for n in names_of(it))]
                later = [f for f in funcs if f > i]
                target = (mention or later or funcs[-1:] or [None])[0]
                if target is None:
                    parts[i] = [it]  # a section of types only
                else:
                    parts[target].insert(len([p for p in parts[target] if "CORIO_EXTERN" not in p[1]]), it)
            for i in sorted(parts):
                own = [n for n in names_of(items[i])]
                links = [n for p in parts[i] for n in names_of(p) if n != own[0]]
                out.append((own[0], h, title, intro, parts[i], links))
    return out


def see_also(page, section_pages):
    """The other pages of a section; for a large one, those of the same family (corio_lock_*...)."""
    others = [p for p in section_pages if p != page]
    if len(others) > 15:
        family = "_".join(page.split("_")[:2]) + "_"
        others = [p for p in others if p.startswith(family)]
    return others


def version():
    text = open(os.path.join(ROOT, "include", "corio.h")).read()
    return ".".join(re.search(r"#define CORIO_VERSION_%s (\d+)" % k, text).group(1) for k in ("MAJOR", "MINOR", "PATCH"))


def link_flags(header):
    base = os.path.splitext(os.path.basename(header))[0]
    if base == "corio":
        return "Link with \\fB\\-lcorio\\fR (\\fBpkg\\-config \\-\\-cflags \\-\\-libs corio\\fR)."
    mod = base[len("corio_"):]
    return "Link with \\fB\\-l%s \\-lcorio\\fR (\\fBpkg\\-config \\-\\-cflags \\-\\-libs corio\\-%s\\fR)." % (base, mod)


def render3(page, header, title, intro, parts, section_pages, ver):
    base = os.path.basename(header)
    funcs = [n for p in parts if "CORIO_EXTERN" in p[1] for n in names_of(p)]
    doc = next(p[2] for p in parts if "CORIO_EXTERN" in p[1] or p is parts[-1])
    out = ['.\\" Generated from include/%s by tools/mangen.py; do not edit.' % base,
           '.TH %s 3 "" "corio %s" "corio manual"' % (page, ver),
           ".SH NAME", "%s \\- %s" % (", ".join(esc(n) for n in funcs or [page]), esc(summary(doc))),
           ".SH SYNOPSIS", ".nf", ".B #include <%s>" % base, ".fi", ".PP"]
    for i, p in enumerate(parts):
        out += ([".sp"] if i else []) + code(p[1])
    out += [".PP", link_flags(header), ".SH DESCRIPTION"]
    first = True
    for p in parts:
        if p[2]:
            out += ([] if first else [".PP"]) + prose(p[2])
            first = False
    if intro and title == "Overview":  # a module header's leading comment: what holds for all its calls
        out += [".SH NOTES"] + prose(intro.split(" - ", 1)[-1][:1].upper() + intro.split(" - ", 1)[-1][1:])
    elif intro:
        out += [".SH NOTES", line("On %s:" % title)] + prose(intro)
    out += [".SH SEE ALSO", ",\n".join(".BR %s (3)" % esc(p) for p in see_also(page, section_pages)) +
            (",\n" if see_also(page, section_pages) else "") + ".BR corio (7)"]
    return "\n".join(out) + "\n"


def readme_intro():
    """README.md's first paragraph (the one under the title), markdown's `code` kept for line()."""
    paras = open(os.path.join(ROOT, "README.md")).read().split("\n\n")
    return next(p for p in paras if p.strip() and not p.startswith("#"))


def render7(headers, all_pages, ver):
    sections = refgen.parse(headers[0])
    conventions = sections[0][1].split("\n\n", 1)[1] if "\n\n" in sections[0][1] else ""
    out = ['.\\" Generated by tools/mangen.py from README.md, include/corio.h and examples/hello.c; do not edit.',
           '.TH corio 7 "" "corio %s" "corio manual"' % ver,
           ".SH NAME", "corio \\- asyncio for C: coroutines, an event loop, tasks, cancellation, timeouts, task groups, "
           "synchronisation and I/O",
           ".SH SYNOPSIS", ".nf", ".B #include <corio.h>", ".PP",
           ".B cc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs corio)", ".fi",
           ".SH DESCRIPTION"] + prose(readme_intro()) + [".PP"] + prose(conventions)
    out += [".SH EXAMPLE", line("A main task starts three tasks that each take a second, and waits for all of "
                                "them (examples/hello.c in corio's sources):"), ".PP", ".RS 4"]
    out += code(open(os.path.join(ROOT, "examples", "hello.c")).read().rstrip("\n")) + [".RE"]
    out += [".SH FUNCTIONS", "Each has its page in section 3; so do the types and constants, which lead to the "
            "page of the function that uses them."]
    for h in headers:
        base = os.path.basename(h)
        mine = [p for p in all_pages if p[1] == h]
        if h != headers[0]:
            out += [".SS %s" % esc(base), line(summary(refgen.parse(h)[0][1].split(" - ", 1)[-1], lower=False) + "."),
                    link_flags(h), ".PP"]
        for title in dict.fromkeys(p[2] for p in mine):
            names = [p[0] for p in mine if p[2] == title]
            if h == headers[0]:
                short = title.split(" (")[0] if len(title) > 70 else title  # "Files (on the thread pool; ...)"
                out.append(".SS %s" % esc(short[0].upper() + short[1:]))
            out.append(",\n".join(".BR %s (3)" % esc(n) for n in names))
            if h != headers[0]:
                out.append(".br")
    out += [".SH ENVIRONMENT", "\\fBCORIO_DEBUG\\fR, \\fBCORIO_BACKEND\\fR and \\fBCORIO_GUARD_STACKS\\fR: see",
            ".BR corio_run (3).",
            ".SH SEE ALSO", "In corio's sources: docs/guide.md (the guide), docs/reference/ (this API as Markdown), "
            "docs/design.md, docs/abi.md (what a release may change).", ".PP", ".BR pkg\\-config (1)"]
    return "\n".join(out) + "\n"


def generate(headers):
    """{relative path: text} of every page."""
    ver = version()
    all_pages = pages(headers)
    files = {}
    for page, h, title, intro, parts, links in all_pages:
        section_pages = [p[0] for p in all_pages if p[1] == h and p[2] == title]
        files["man3/%s.3" % page] = render3(page, h, title, intro, parts, section_pages, ver)
        for n in links:
            if n.lower().startswith("corio_"):  # not `struct sqlite3;`: another library's name is its own page
                files.setdefault("man3/%s.3" % n, ".so man3/%s.3\n" % page)
    files["man7/corio.7"] = render7(headers, all_pages, ver)
    return files


def main(argv):
    if len(argv) >= 2 and argv[0] == "--list":
        print("\n".join(sorted(generate(argv[1:]))))
        return 0
    if len(argv) < 2 or os.path.basename(argv[1]) != "corio.h":
        print(__doc__, file=sys.stderr)
        return 2
    for rel, text in generate(argv[1:]).items():
        path = os.path.join(argv[0], rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
