// A graded check: the share of the expected words that appear in the output.
module.exports = (output, context) => {
  const expected = context.vars.expected.split(',').map((w) => w.trim().toLowerCase());
  const text = output.toLowerCase();
  const found = expected.filter((w) => text.includes(w));
  const score = found.length / expected.length;
  return {
    pass: score >= 0.5,
    score,
    reason: `found ${found.length} of ${expected.length}`,
  };
};

module.exports.strict = (output, context) => output.trim() === context.vars.topic;
