#!/usr/bin/env python3
"""A reference-guided pairwise judge for the date task, as an `exec:` provider.

xops sends the judge prompt as argv[1]: "... Prompt: Date: 2061-04-05\\nLong:\\n\\nAnswer A: ...
\\n\\nAnswer B: ...\\n". The judge works out the correct long form from the ISO date itself
and prefers the answer that is it; when neither (or both) is, the one closer to it by
character similarity, a tie when equally close. It answers {"winner", "reason"} as xops's
pairwise assertion expects. No model is involved: the demo has no LLM able to judge, and a
judge whose rule can be read is one whose verdicts can be checked."""
import calendar
import difflib
import json
import re
import sys

text = sys.argv[1]
date = re.search(r"Date: (\d{4})-(\d{2})-(\d{2})", text)
a_at, b_at = text.find("\n\nAnswer A: "), text.rfind("\n\nAnswer B: ")
if not date or a_at < 0 or b_at < a_at:
    print(json.dumps({"winner": "tie", "reason": "not a date prompt"}))
    sys.exit(0)
year, month, day = (int(g) for g in date.groups())
want = f"{calendar.month_name[month]} {day}, {year}"
a = text[a_at + len("\n\nAnswer A: "):b_at].strip()
b = text[b_at + len("\n\nAnswer B: "):].strip()


def score(answer):
    return 2.0 if answer == want else difflib.SequenceMatcher(None, answer, want).ratio()


sa, sb = score(a), score(b)
winner = "A" if sa > sb else "B" if sb > sa else "tie"
print(json.dumps({"winner": winner,
                  "reason": f"want {want!r}: A {sa:.2f} ({a[:40]!r}), B {sb:.2f} ({b[:40]!r})"}))
