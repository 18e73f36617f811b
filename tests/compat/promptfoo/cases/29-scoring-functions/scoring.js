module.exports.minimum = (namedScores) => {
  const score = Math.min(...Object.values(namedScores));
  return { pass: score >= 0.5, score, reason: `minimum ${score}` };
};
module.exports.context_echo = (namedScores, context) => {
  const parts = context.componentResults.map((r) => `${r.assertion.type}:${r.pass}:${r.score}`);
  const score = context.threshold / 2;
  return {
    pass: true,
    score,
    reason: `threshold ${context.threshold}; ${parts.join(',')}; ${JSON.stringify(namedScores)}`,
  };
};
module.exports.throws = () => {
  throw new Error('no scoring today');
};
module.exports.bare_number = () => 0.75;
module.exports.renames = (namedScores) => ({
  pass: true,
  score: 0.6,
  reason: 'renamed',
  namedScores: { renamed: namedScores.accuracy / 2 },
});
