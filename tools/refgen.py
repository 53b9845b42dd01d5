#!/usr/bin/env python3
"""refgen.py - writes the API reference (docs/reference/NAME.md) from the doc comments of include/NAME.h.

The headers are the single source of truth: every public declaration carries its one- or two-line comment there,
so the reference is generated rather than kept by hand, and `make test` checks that it is up to date and that
every exported symbol is documented (tests/check_docs.sh).

  tools/refgen.py OUTDIR HEADER...   writes OUTDIR/<header name>.md for each header
  tools/refgen.py --names HEADER...  prints every documented name, one per line
"""
import os
import re
import sys


def read_comment(lines, i):
    """The comment starting at lines[i] as text, and the index after it."""
    text = []
    while True:
        line = lines[i]
        end = "*/" in line
        line = line.split("*/")[0] if end else line
        line = re.sub(r"^\s*/?\*+ ?", "", line)
        text.append(line.rstrip())
        i += 1
        if end:
            return "\n".join(text).strip(), i


def read_decl(lines, i):
    """The declaration starting at lines[i] (up to its ';' at brace depth 0), and the index after it."""
    out, depth = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line.rstrip())
        i += 1
        depth += line.count("{") - line.count("}")
        if depth == 0 and re.sub(r"/\*.*?\*/", "", line).rstrip().endswith(";"):
            break
    return "\n".join(out), i


def decl_name(decl):
    flat = " ".join(decl.split())
    m = re.match(r"enum\s*\{([^}]*)\}\s*;", flat)  # anonymous enum: its constants
    if m:
        return ", ".join(c.split("=")[0].strip() for c in m.group(1).split(",") if c.strip())
    m = re.match(r"typedef [^(]*\(\s*\*\s*(\w+)\s*\)", flat)  # function pointer type
    if m:
        return m.group(1)
    if flat.startswith(("typedef", "enum", "struct")) and "(" not in flat.split("{")[0]:
        m = re.search(r"(\w+)\s*;$", flat)  # the name before the final ';'
        if m and m.group(1) != "}":
            return m.group(1)
        return None
    m = re.search(r"(\w+)\s*\(", flat.replace("CORIO_EXTERN", ""))
    return m.group(1) if m else None


def parse(path):
    """[(section title, section intro, [(names, code, doc)])] for one header."""
    lines = open(path).read().split("\n")
    sections = [["Overview", "", []]]
    pending = None  # a comment directly above the next declaration
    seen_code = False
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("/*"):
            text, i = read_comment(lines, i)
            m = re.match(r"-{3,}\s*(.*?)\s*-{3,}\s*(.*)", text, re.S)
            if m:
                sections.append([m.group(1), m.group(2).strip(), []])
                pending = None
            elif not seen_code and len(sections) == 1 and not sections[0][1]:
                sections[0][1] = text  # the file's leading comment
            else:
                pending = text
            continue
        if s.startswith(("CORIO_EXTERN", "typedef", "enum", "struct")) and not s.startswith("struct corio_"):
            code, i = read_decl(lines, i)
            seen_code = True
            name = decl_name(code)
            trailing = re.search(r";\s*/\*\s*(.*?)\s*\*/\s*$", code)
            if pending is None and trailing and "\n" not in code:
                pending = trailing.group(1)  # a one-line declaration documented at its end
            items = sections[-1][2]
            if pending is None and items and items[-1][2] and items[-1][3]:
                # a declaration right under another one shares its comment ("The same for writability" style)
                items[-1][0].append(name)
                items[-1][1] += "\n" + code
            else:
                items.append([[name], code, pending or "", True])
            pending = None
            # a blank line ends the group sharing one comment
            if i < len(lines) and lines[i].strip() == "":
                items[-1][3] = False
            continue
        if s == "":
            pending = None
            if sections[-1][2]:
                sections[-1][2][-1][3] = False
        i += 1
    return sections


def render(path, sections):
    base = os.path.basename(path)
    out = [f"# {base}", "", f"Generated from `include/{base}` by `tools/refgen.py`; do not edit by hand.", ""]
    if sections[0][1]:
        out += [sections[0][1], ""]
    for title, intro, items in sections:
        if not items:
            continue
        out += [f"## {title}", ""]
        if intro:
            out += [intro, ""]
        for names, code, doc, _ in items:
            out += ["### " + ", ".join(f"`{n}`" for n in names if n), "", "```c", code.replace("CORIO_EXTERN ", ""),
                    "```", ""]
            if doc:
                out += [doc, ""]
    return "\n".join(out)


def main(argv):
    if len(argv) >= 2 and argv[0] == "--names":
        for h in argv[1:]:
            for _, _, items in parse(h):
                for names, _, doc, _ in items:
                    if doc:
                        print("\n".join(n for n in names if n))
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(argv[0], exist_ok=True)
    for h in argv[1:]:
        name = os.path.splitext(os.path.basename(h))[0]
        with open(os.path.join(argv[0], name + ".md"), "w") as f:
            f.write(render(h, parse(h)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
