#!/usr/bin/env python3
"""The layering check passes on the tree and fails, naming the include, on wrong ones."""
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CHECK = os.path.join(SRC, "scripts", "check_layers.py")


def run(root):
    return subprocess.run([sys.executable, CHECK, "--root", root], capture_output=True, text=True)


def with_include(tmp, path, include):
    root = os.path.join(tmp, os.path.basename(path).replace(".", "_"))
    for d in ("cli", "commands", "term", "core"):
        shutil.copytree(os.path.join(SRC, d), os.path.join(root, d))
    shutil.copy(os.path.join(SRC, "CMakeLists.txt"), root)
    with open(os.path.join(root, path), "a") as f:
        f.write(f'\n#include "{include}"\n')
    return root


def main():
    failures = 0
    r = run(SRC)
    if r.returncode != 0:
        print("the tree itself fails:\n" + r.stderr)
        failures += 1
    wrong = [
        ("core/util/fs.cpp", "commands/commands.hpp", "commands is above core/util"),  # core -> CLI
        ("core/model/tokenizer.cpp", "core/refs/resolve.hpp", "core/refs is above core/model"),
        ("core/eval/runner.cpp", "core/serve/scheduler.hpp", "the same floor as core/eval"),
        ("core/serve/metrics.cpp", "core/finetune/dataset.hpp", "the same floor as core/serve"),
        ("term/table.cpp", "cli/app.hpp", "cli is above term"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for path, include, why in wrong:
            r = run(with_include(tmp, path, include))
            want = f'{path}:'
            if r.returncode != 1 or want not in r.stderr or include not in r.stderr or why not in r.stderr:
                print(f"#include \"{include}\" in {path} was not refused as expected "
                      f"(exit {r.returncode}):\n{r.stderr}")
                failures += 1
    print(f"{1 + len(wrong) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
