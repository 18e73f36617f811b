#!/usr/bin/env python3
"""Exact match of `xops generate --batch` output (JSONL with prompt, completion, text)."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = sum(r["text"].strip() == r["completion"].strip() for r in rows)
print(f"{ok}/{len(rows)} = {100.0 * ok / max(1, len(rows)):.1f}%")
for r in rows[:3]:
    print(f"  {r['prompt']!r} -> {r['text']!r} (want {r['completion']!r})", file=sys.stderr)
