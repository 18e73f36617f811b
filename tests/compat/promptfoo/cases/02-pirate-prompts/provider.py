# Deterministic stand-in for a chat model: a pirate answer chosen from the prompt.
import sys

prompt = sys.argv[1]
body = prompt.split(":", 1)[1].strip()
captain = prompt.startswith("Answer like a pirate captain")
if body.lower() == "yes":
    print("Yarr" if not captain else "Aye")
elif "hungry" in body:
    print("Arrr, fetch me some GRUB, matey!")
elif "json" in body.lower():
    print('{"name": "Blackbeard", "born": 1680}' if not captain else "Me life be no JSON, arrr")
else:
    print(("Ahoy, " if not captain else "Avast, ") + body.lower() + (" arrr" if captain else ""))
