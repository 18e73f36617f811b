"""Per-case verdicts of promptfoo and of xops, in one shape, and their comparison.

  verdicts.py promptfoo RESULTS.json EXPECTED.json VERSION   record promptfoo's verdicts
  verdicts.py refused EXPECTED.json VERSION LOG              record that promptfoo refused the config
  verdicts.py check XOPS CASES_DIR [--allow FILE]            run xops on every case and compare
                                                             (verdicts, and the case score and named
                                                             scores where both agree)

A case is identified by (provider, rendered prompt) and its occurrence among equal keys, so
the order of cartesian products does not matter; the verdict is pass/fail/error.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def key_of(provider, prompt):
    # promptfoo records a JSON prompt compactly although it sends it indented: compare the data.
    try:
        value = json.loads(prompt)
        if isinstance(value, (dict, list)):
            prompt = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        pass
    return json.dumps([provider, prompt], ensure_ascii=False)


def with_occurrence(rows):
    seen = {}
    out = {}
    for r in rows:
        k = key_of(r["provider"], r["prompt"])
        n = seen.get(k, 0)
        seen[k] = n + 1
        out[f"{k}#{n}"] = r
    return out


def promptfoo_rows(results):
    rows = []
    for r in results["results"]["results"]:
        prov = r["provider"]
        label = prov.get("label") or prov.get("id")
        vars_ = {k: v for k, v in (r.get("vars") or {}).items() if not k.startswith("__")}
        verdict = "error" if r.get("error") and not r.get("gradingResult") else ("pass" if r["success"] else "fail")
        reason = (r.get("gradingResult") or {}).get("reason") or r.get("error") or ""
        reason = reason.split("\n    at ")[0].split("\nStack Trace:")[0]  # no stack traces (local paths)
        rows.append({"test": r.get("testIdx"), "provider": label, "prompt": r["prompt"]["raw"], "vars": vars_,
                     "verdict": verdict, "score": r.get("score"), "reason": reason,
                     "named_scores": r.get("namedScores") or {}})
    return rows


def xops_rows(summary):
    rows = []
    for r in summary["results"]:
        verdict = "error" if r.get("error") else ("pass" if r["pass"] else "fail")
        reason = r.get("error") or "; ".join(a.get("reason", "") for a in r.get("asserts", []) if not a.get("pass"))
        rows.append({"test": r["test"], "provider": r["provider"], "prompt": r["rendered_prompt"],
                     "vars": r["vars"], "verdict": verdict, "score": r.get("score"),
                     "reason": reason, "named_scores": r.get("named_scores") or {}})
    return rows


def named_differ(want, got):
    """Whether two cases' named scores differ (other names, or a value off by over 1e-6)."""
    if set(want) != set(got):
        return True
    return any(not isinstance(got[k], (int, float)) or abs(want[k] - got[k]) > 1e-6 for k in want)


def case_order(rows):
    """The cases' (provider, prompt) keys in test order: how a glob or a list expanded."""
    if any(not isinstance(r.get("test"), int) for r in rows):
        return None
    return [k for _, k in sorted((r["test"], key_of(r["provider"], r["prompt"])) for r in rows)]


def write(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def check(xops, cases_dir, allow_file):
    allowed = {}
    if allow_file:
        for a in json.load(open(allow_file, encoding="utf-8")):
            allowed[(a["case"], a["key"])] = a["reason"]
    total = agree = scored = 0
    unexpected, stale, lines, score_diffs, named_diffs, order_diffs = [], [], [], [], [], []
    used = set()
    for name in sorted(os.listdir(cases_dir)):
        src = os.path.join(cases_dir, name)
        exp_path = os.path.join(src, "expected.json")
        if not os.path.isfile(exp_path):
            continue
        expected = json.load(open(exp_path, encoding="utf-8"))
        with tempfile.TemporaryDirectory() as tmp:
            work = os.path.join(tmp, name)
            shutil.copytree(src, work)
            env = dict(os.environ, XOPS_CONFIG_HOME=os.path.join(tmp, "home"))
            p = subprocess.run([xops, "eval", "-c", "promptfooconfig.yaml", "--json", "--no-cache", "--no-track",
                                "-j", "2"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        summary = None
        for line in p.stdout.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "results" in obj:
                summary = obj
        want = with_occurrence(expected["cases"]) if not expected.get("refused") else {}
        got = with_occurrence(xops_rows(summary)) if summary else {}
        if summary is None and not expected.get("refused"):
            why = (p.stderr.strip().splitlines() or ["no output"])[-1]
            got = {k: {"verdict": "refused", "reason": why} for k in want}
        ok_here = 0
        want_order = case_order(expected["cases"]) if not expected.get("refused") else None
        if want_order and summary and want_order != case_order(xops_rows(summary)):
            order_diffs.append(name)
        for k, w in want.items():
            total += 1
            g = got.get(k, {"verdict": "missing", "reason": "xops ran no such case"})
            ws, gs = w.get("score"), g.get("score")
            if g["verdict"] == w["verdict"] and isinstance(ws, (int, float)) and isinstance(gs, (int, float)):
                scored += 1
                if abs(ws - gs) > 1e-6:
                    score_diffs.append((name, k, ws, gs))
            # Named scores where the recording has them (recorded since case 29).
            if g["verdict"] == w["verdict"] and "named_scores" in w:
                if named_differ(w["named_scores"], g.get("named_scores") or {}):
                    named_diffs.append((name, k, w["named_scores"], g.get("named_scores")))
            if g["verdict"] == w["verdict"]:
                agree += 1
                ok_here += 1
                if (name, k) in allowed:
                    stale.append((name, k))
                continue
            used.add((name, k))
            if (name, k) not in allowed:
                unexpected.append((name, k, w, g))
        extra = [k for k in got if k not in want]
        for k in extra:
            if (name, k) not in allowed:
                unexpected.append((name, k, {"verdict": "absent"}, got[k]))
        lines.append(f"{name:28} {ok_here:3}/{len(want):<3} agree")
    print("\n".join(lines))
    rate = agree / total if total else 0
    print(f"promptfoo compatibility: {agree}/{total} cases agree ({100 * rate:.1f}%); "
          f"case scores equal in {scored - len(score_diffs)}/{scored} of those")
    for name, k, ws, gs in score_diffs:
        print(f"SCORE {name} {k}: promptfoo {ws}, xops {gs}")
    for name in order_diffs:
        print(f"ORDER {name}: xops runs the cases in another order than promptfoo")
    for name, k, w, g in named_diffs:
        print(f"NAMED SCORES {name} {k}: promptfoo {w}, xops {g}")
    for name, k, w, g in unexpected:
        print(f"DISAGREE {name} {k}\n  promptfoo: {w.get('verdict')} ({w.get('reason')})\n  xops:      "
              f"{g.get('verdict')} ({g.get('reason')})")
    for name, k in stale:
        print(f"STALE allowance (they agree now) {name} {k}")
    for (name, k), reason in allowed.items():
        if (name, k) in used:
            print(f"known difference {name}: {reason}")
    ok = not unexpected and not stale and not score_diffs and not named_diffs and not order_diffs
    return 0 if ok and rate >= 0.95 else 1


def main():
    mode = sys.argv[1]
    if mode == "promptfoo":
        results = json.load(open(sys.argv[2], encoding="utf-8"))
        write(sys.argv[3], {"promptfoo": sys.argv[4], "cases": promptfoo_rows(results)})
    elif mode == "refused":
        log = open(sys.argv[4], encoding="utf-8", errors="replace").read().strip().splitlines()
        write(sys.argv[2], {"promptfoo": sys.argv[3], "refused": True, "cases": [], "log": log[-5:]})
    elif mode == "check":
        allow = sys.argv[sys.argv.index("--allow") + 1] if "--allow" in sys.argv else None
        sys.exit(check(sys.argv[2], sys.argv[3], allow))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
