# A graded check in Python: three words, none of them repeated.
def get_assert(output, context):
    words = output.split()
    if len(words) != 3:
        return {"pass": False, "score": 0.0, "reason": f"{len(words)} words, not 3"}
    if len(set(w.lower() for w in words)) < 3:
        return {"pass": False, "score": 0.5, "reason": "a word repeats"}
    return True


def mentions_topic(output, context):
    return context["vars"]["topic"].split()[0] in output.lower()
