# Reads the vars from the context (the third argument), as promptfoo's exec provider passes it.
import json
import sys

prompt, options, context = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
vars_ = context["vars"]
temperature = options.get("config", {}).get("temperature")
print(f"{vars_['animal']} says {vars_['sound'].upper()} (t={temperature})")
