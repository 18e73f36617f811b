# Deterministic stand-in: a JSON description of a fruit, or prose for unknown ones.
import json
import sys

prompt = sys.argv[1]
fruits = {
    "Banana": {"color": "yellow", "countries": ["Ecuador", "Philippines"]},
    "Passion fruit": {"color": "purple", "countries": ["Brazil", "Peru"]},
    "Mango": {"color": "orange", "countries": ["India", "Mexico"]},
    "Kiwi": {"color": "brown", "countries": "New Zealand"},
}
item = prompt.rsplit(": ", 1)[1].strip()
if item in fruits:
    print(json.dumps(fruits[item]))
else:
    print("I do not know that fruit.")
