"""The pipeline's metrics file: the headline numbers of an `xops eval` results file.

Usage: python3 summary_metrics.py RESULTS.json METRICS.json
"""
import json
import sys

summary = json.load(open(sys.argv[1]))["summary"]
with open(sys.argv[2], "w") as f:
    json.dump({k: summary[k] for k in ("pass_rate", "passed", "failed")}, f)
    f.write("\n")
