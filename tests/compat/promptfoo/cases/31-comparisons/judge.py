# A select-best judge: the index of the longest <Text> block (promptfoo sends its prompt as a
# JSON list of chat messages; xops as the message text).
import json, re, sys

prompt = sys.argv[1]
try:
    prompt = json.loads(prompt)[0]["content"]
except (ValueError, KeyError, IndexError, TypeError):
    pass
texts = re.findall(r'<Text index="(\d+)">\n(.*?)\n</Text>', prompt, re.S)
print(max(texts, key=lambda t: len(t[1]))[0] if texts else "none")
