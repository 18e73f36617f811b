# A deterministic RAG judge for promptfoo's context-* prompts (src/prompts/index.ts): it tells
# the four prompts apart by their fixed text and answers in the shape each expects, deciding
# "supported" by word overlap (every word of 4+ letters of a sentence appears in the context).
import json, re, sys

prompt = sys.argv[1]
try:
    prompt = json.loads(prompt)[0]["content"]
except (ValueError, KeyError, IndexError, TypeError):
    pass


def words(s):
    return {w for w in re.findall(r"[a-z]{4,}", s.lower())}


def supported(sentence, context):
    w = words(sentence)
    return bool(w) and w <= words(context)


def sentences(text):
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def after(marker, text):
    return text[text.rindex(marker) + len(marker):]


if prompt.rstrip().endswith("classification:"):  # context-recall
    body = after("\ncontext:", prompt)
    context, truth = body.split("\nanswer:", 1)
    truth = truth.rsplit("\nclassification:", 1)[0]
    for i, s in enumerate(sentences(truth), 1):
        print(f"{i}. {s} So [{'Attributed' if supported(s, context) else 'Not Attributed'}]")
elif prompt.rstrip().endswith("candidate sentences:"):  # context-relevance
    query = after("\nquery: ", prompt).split("\ncontext: ", 1)[0]
    context = after("\ncontext: ", prompt).rsplit("\ncandidate sentences:", 1)[0]
    units = [l for l in context.split("\n") if l.strip()]
    if len(units) < 2:
        units = sentences(context)
    keep = [u for u in units if words(u) & words(query)]
    print("\n".join(keep) if keep else "Insufficient Information")
elif "Prompt: Natural language inference" in prompt:  # context-faithfulness, second call
    context = after("\ncontext:\n", prompt).split("\nstatements:\n", 1)[0]
    stmts = after("\nstatements:\n", prompt).rsplit("\nAnswer:", 1)[0]
    verdicts = ["Yes" if supported(s, context) else "No" for s in stmts.split("\n") if s.strip()]
    print("Final verdict for each statement in order: " + " ".join(v + "." for v in verdicts))
elif prompt.rstrip().endswith("statements:"):  # context-faithfulness, first call
    answer = after("\nanswer: ", prompt).rsplit("\nstatements:", 1)[0]
    print("\n".join(sentences(answer)))
else:
    print("not a prompt this judge knows")
