// Records real Nunjucks's output for each case in cases.json into expected.json: the oracle
// tests/unit/nunjucks_oracle_test.cpp compares xops's renderer with (never our own output).
//   cd .cache/npm && npm install nunjucks@3.2.4   # once
//   node tests/compat/nunjucks/record.js
const path = require('path');
const fs = require('fs');
const root = path.resolve(__dirname, '../../..');
const nunjucks = require(path.join(root, '.cache/npm/node_modules/nunjucks'));
const env = new nunjucks.Environment(null, {autoescape: false});  // promptfoo's setting
const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'cases.json'), 'utf8'));
const out = cases.map((c) => {
  try {
    return {t: c.t, v: c.v, out: env.renderString(c.t, c.v)};
  } catch (e) {
    return {t: c.t, v: c.v, error: String(e.message).split('\n')[0]};
  }
});
const version = require(path.join(root, '.cache/npm/node_modules/nunjucks/package.json')).version;
fs.writeFileSync(
    path.join(__dirname, 'expected.json'),
    JSON.stringify({nunjucks: version, cases: out}, null, 1) + '\n');
console.log(`recorded ${out.length} cases with nunjucks ${version}`);
