#!/usr/bin/env python3
"""Records which tag names gto reads as registry tags, and how, into expected.json: the oracle
tests/unit/registry_test.cpp compares xops's parser with. The grammar below is gto's
`tag_re` from gto/constants.py (iterative/gto), rebuilt from its parts: a full name
(`dirname=` prefix allowed), then `#stage` or `@vSEMVER` with an optional `!` (cancel), or
`@deprecated` / `@created`, then an optional `#counter`.
    python3 tests/compat/gto/record.py
"""
import json
import os
import re

NAME = r"[a-z0-9]([a-z0-9-/]*[a-z0-9])?"
DIRNAME = r"[a-z0-9-_./]+"
NUM = r"0|[1-9]\d*"
IDENT = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
SEMVER = (rf"(?:{NUM})\.(?:{NUM})\.(?:{NUM})(?:-{IDENT}(?:\.{IDENT})*)?"
          r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?")
FULLNAME_IN_TAG = rf"(?:{DIRNAME}=)?{NAME}"
TAG = re.compile(
    rf"^(?P<artifact>{FULLNAME_IN_TAG})"
    rf"(?:(?:#(?P<stage>{NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?)"
    rf"|@(?:(?P<deprecated>deprecated)|(?P<created>created)))"
    rf"(?:#(?P<counter>[0-9]+))?$")

HERE = os.path.dirname(os.path.abspath(__file__))


def verdict(tag):
    m = TAG.match(tag)
    if not m:
        return None
    if m["stage"]:
        action = "unassign" if m["cancel"] else "assign"
    elif m["version"]:
        action = "deregister" if m["cancel"] else "register"
    else:
        action = "deprecate" if m["deprecated"] else "create"
    return {"artifact": m["artifact"].replace("=", ":"), "action": action,
            "version": m["version"] or "", "stage": m["stage"] or "",
            "counter": int(m["counter"]) if m["counter"] else 0}


tags = [l.strip() for l in open(os.path.join(HERE, "tags.txt")) if l.strip() and not l.startswith("//")]
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump({t: verdict(t) for t in tags}, f, indent=1)
    f.write("\n")
print(f"recorded {len(tags)} tags, {sum(verdict(t) is not None for t in tags)} registry tags")
