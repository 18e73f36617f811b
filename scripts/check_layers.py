#!/usr/bin/env python3
"""The layering check: folders include only downward, in the order below.

Each module is a folder (core/util, commands, ...) or, for the few files directly in core/,
the file itself (core/error). A module may include its own files and those of modules on
lower floors; a module on the same floor or above is an error, so there is no cycle. Also:
core/ never includes cli/, term/, commands/ or CLI11; only core/torch includes LibTorch; and
the xops_core CMake target links neither CLI11 nor the commands.

Usage: check_layers.py [--root DIR] [--graph]   (exit 1 with each offending include)
"""
import argparse
import os
import re
import sys

# Top to bottom. Modules on one floor are independent of each other.
FLOORS = [
    ["cli"],                      # main, the root CLI11 app, completion
    ["commands"],                 # one file per verb: flags -> request -> render
    ["term"],                     # terminal I/O: output, tables, progress, the command context
    ["core/app"],                 # use cases: evaluate, promotion, finetune, serve, tracked run, init
    ["core/torch", "core/gitlib", "core/httplib", "core/pglib", "core/s3lib"],  # plugin libraries
    ["core/registry"],            # registering versions, stage tags, promotion records
    ["core/eval", "core/serve", "core/finetune", "core/monitor", "core/pipeline"],  # suites and providers; the server; training data; served traffic summed up; dvc.yaml stages
    ["core/index"],               # vector indexes: chunks, vectors, HNSW (eval and serve retrieve)
    ["core/refs"],                # one resolver: dir | name@vX | name#stage -> content, adapter
    ["core/engine"],              # the engine seam (no LibTorch types)
    ["core/track"],               # workspace files <-> pointers and the store
    ["core/tracking"],            # runs, metrics, the interaction log, evidence
    ["core/store"],               # content-addressed objects, remotes
    ["core/project", "core/db", "core/model", "core/template"],
    ["core/plugins"],             # seams + loader of the dlopen'ed libraries
    ["core/util"],
    ["core/error", "core/build_info", "core/templates"],
]
SOURCE_DIRS = ["cli", "commands", "term", "core"]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def module_of(path):
    parts = path.split("/")
    if parts[0] != "core":
        return parts[0]
    if len(parts) == 2:  # a file directly in core/
        return "core/" + parts[1].split(".")[0]
    return "core/" + parts[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--graph", action="store_true", help="print the module graph")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    floor = {m: i for i, ms in enumerate(FLOORS) for m in ms}
    errors, graph = [], {}
    for top in SOURCE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".cpp", ".hpp", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, f), root)
                src = module_of(path)
                if src not in floor:
                    errors.append(f"{path}: module {src} has no floor in scripts/check_layers.py")
                    continue
                with open(os.path.join(root, path), errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, target = m.groups()
                        where = f"{path}:{n}: #include {kind}{target}{'>' if kind == '<' else kind}"
                        if kind == "<":
                            if src.startswith("core") and target.startswith("CLI/"):
                                errors.append(f"{where}: core never sees CLI11")
                            if target.startswith(("torch/", "ATen/")) and src != "core/torch":
                                errors.append(f"{where}: only core/torch includes LibTorch")
                            continue
                        if not os.path.exists(os.path.join(root, target)):
                            continue  # generated or relative to the file: not a module edge
                        dst = module_of(target)
                        if dst == src:
                            continue
                        graph.setdefault(src, set()).add(dst)
                        if dst not in floor:
                            errors.append(f"{where}: module {dst} has no floor")
                        elif floor[dst] <= floor[src]:
                            how = "the same floor as" if floor[dst] == floor[src] else "above"
                            errors.append(f"{where}: {dst} is {how} {src} "
                                          f"(order: scripts/check_layers.py FLOORS)")
    cmake = os.path.join(root, "CMakeLists.txt")
    if os.path.exists(cmake):
        text = open(cmake).read()
        for m in re.finditer(r"target_link_libraries\(\s*xops_core\b([^)]*)\)", text):
            for bad in ("CLI11", "xops_commands"):
                if bad in m.group(1):
                    errors.append(f"CMakeLists.txt: xops_core links {bad}")
    if args.graph:
        for src in sorted(graph, key=lambda m: floor.get(m, -1)):
            print(f"{src} -> {', '.join(sorted(graph[src], key=lambda m: floor.get(m, 99)))}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"layering: {len(errors)} offending include(s)", file=sys.stderr)
        return 1
    print(f"layering: {sum(len(v) for v in graph.values())} module edges, all downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
