# A Python output transform: the words of the output, upper-cased and counted.
def get_transform(output, context):
    words = output.split()
    return {"words": [w.upper() for w in words], "n": len(words), "topic": context["vars"]["topic"]}


def shout(output, context):
    return output.upper() + "!"
