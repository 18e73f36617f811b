def accuracy_only(named_scores, context):
    score = named_scores.get("accuracy", 0)
    return {"pass": score >= 0.7, "score": score, "reason": f"accuracy {score}"}


def func(named_scores, context):
    total = sum(named_scores.values()) / len(named_scores)
    return {"pass": total > 0.4, "score": total, "reason": "mean of %d" % len(named_scores)}


def no_reason(named_scores, context):
    return {"pass": True, "score": 1.0}
