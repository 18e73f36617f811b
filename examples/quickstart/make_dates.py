#!/usr/bin/env python3
"""Synthetic LoRA task: rewrite ISO dates as "January 31, 2024".

The held-out split uses 20 years (a seeded sample from 1900-2099) that the training split
never shows, so no held-out date was seen in training and exact match on it measures generalisation, not memorisation: the model must copy
digits it never saw together and map month numbers to names. Deterministic (seeded)."""
import calendar, json, random, sys

out_dir = sys.argv[1] if len(sys.argv) > 1 else "data"
n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 200
rng = random.Random(20241127)
months = list(calendar.month_name)[1:]


def example(year):
    m = rng.randint(1, 12)
    d = rng.randint(1, calendar.monthrange(year, m)[1])
    return {"prompt": f"Date: {year:04d}-{m:02d}-{d:02d}\nLong:", "completion": f" {months[m - 1]} {d}, {year}\n"}


held_out = sorted(random.Random(7).sample(range(1900, 2100), 20))
train_years = [y for y in range(1900, 2100) if y not in held_out]
with open(f"{out_dir}/dates-train.jsonl", "w") as f:
    for _ in range(n_train):
        f.write(json.dumps(example(rng.choice(train_years))) + "\n")
held = [example(rng.choice(held_out)) for _ in range(n_test)]
with open(f"{out_dir}/dates-heldout.jsonl", "w") as f:
    for e in held:
        f.write(json.dumps(e) + "\n")
# The same held-out examples as eval cases (promptfoo's test shape) for evals/dates.yaml.
with open(f"{out_dir}/dates-cases.jsonl", "w") as f:
    for e in held:
        date = e["prompt"].split("Date: ")[1].split("\n")[0]
        f.write(json.dumps({"vars": {"date": date, "answer": e["completion"].strip()}}) + "\n")
