# Reads promptfoo's chat prompt (a JSON list of messages) and answers from the last one.
import json
import sys

messages = json.loads(sys.argv[1])
system = messages[0]["content"]
question = messages[-1]["content"]
company = system.split(" for ")[1].rstrip(".")
if "hours" in question:
    print(f"{company} is open 9 to 5.")
else:
    print(f"{company} cannot help with that.")
