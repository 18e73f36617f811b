// The geometric mean of the named scores (as promptfoo's example default.js).
module.exports = (namedScores, context) => {
  const values = Object.values(namedScores);
  const score = Math.pow(values.reduce((a, v) => a * (v || 0), 1), 1 / values.length);
  const threshold = context?.threshold ?? 0.5;
  return { pass: score >= threshold, score, reason: `geometric mean ${score.toFixed(3)}` };
};
