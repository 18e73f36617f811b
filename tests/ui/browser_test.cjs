// `xops ui` in Debian's chromium, headless, over the DevTools protocol (puppeteer-core):
// every page loads with no console error, failed request or error response; runs sort and
// filter (server-side), two runs open in the compare view, the eval matrix filters to
// failures and disagreements, the interaction browser searches. Each check reads what the
// page shows against the API's own answer, never a hard-coded figure.
// Usage: node browser_test.cjs URL SCREENSHOT_DIR
'use strict';
const puppeteer = require('puppeteer-core');
const path = require('path');

const [url, out] = process.argv.slice(2);
const problems = [];
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  let expect400 = false;  // the bad-filter step: its one 400 is what the page must show
  page.on('console', (m) => {
    if (expect400 && m.text().includes('status of 400')) return (expect400 = false);
    if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => {
    // The bad-filter check below expects its one 400; anything else >= 400 is a fault.
    if (r.status() >= 400 && !r.url().includes('filter=metrics.loss')) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  const api = async (p) => (await fetch(url + '/api/' + p)).json();
  let ready = 0;
  async function visit(hash, shot) {
    const before = problems.length;
    await page.goto(`${url}/#${hash}`, { waitUntil: 'load' });
    await settle();
    if (shot) await page.screenshot({ path: path.join(out, shot + '.png'), fullPage: true });
    check(problems.length === before, `${hash}: no console errors or failed requests ${problems.slice(before).join('; ')}`);
  }
  // Each render sets body[data-ready] to a new generation once its data is on the page.
  async function settle() {
    await page.waitForFunction((n) => +(document.body.dataset.ready || 0) > 0 && document.body.dataset.ready !== String(n), { timeout: 15000 }, ready);
    ready = +(await page.evaluate(() => document.body.dataset.ready));
    await new Promise((r) => setTimeout(r, 100));
  }
  async function click(selector) {
    const prev = await page.evaluate(() => document.body.dataset.ready);
    await page.click(selector);
    await page.waitForFunction((p) => document.body.dataset.ready !== p, { timeout: 15000 }, prev);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cellTexts = (sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent.trim()));

  // Runs: every run the API lists is a row; sorting by a metric column orders the rows.
  const runs = await api('runs?limit=500');
  ready = 0;
  await visit('/runs', 'runs');
  check((await page.$$('#runs tbody tr')).length === runs.total, `runs: ${runs.total} rows`);
  const lossCol = await page.$('#runs th[data-sort="metrics.loss"]');
  check(!!lossCol, 'runs: a loss column is shown by default');
  await click('#runs th[data-sort="metrics.loss"]');
  const idx = await page.$$eval('#runs thead th', (ths) => ths.findIndex((t) => t.dataset.sort === 'metrics.loss'));
  const col = async () => (await cellTexts(`#runs tbody tr td:nth-child(${idx + 1})`)).map(Number).filter((x) => !isNaN(x));
  let v = await col();
  check(v.length >= 3 && v.every((x, i) => i === 0 || v[i - 1] >= x), `runs: sorted by loss, descending (${v})`);
  await click('#runs th[data-sort="metrics.loss"]');
  v = await col();
  check(v.length >= 3 && v.every((x, i) => i === 0 || v[i - 1] <= x), `runs: sorted by loss, ascending (${v})`);
  // Filter: the API's own count for the same filter.
  const filter = "params.lr = '0.01'";
  const want = (await api('runs?filter=' + encodeURIComponent(filter))).total;
  await page.$eval('#filter', (e) => { e.value = ''; });
  await page.type('#filter', filter);
  await click('#apply-filter');
  check((await page.$$('#runs tbody tr')).length === want && want === 1, `runs: filter ${filter} shows ${want} row`);
  await page.$eval('#filter', (e) => { e.value = ''; });
  await page.type('#filter', 'metrics.loss <');
  expect400 = true;
  await click('#apply-filter');
  const err = await page.$eval('.error', (e) => e.textContent).catch(() => '');
  check(err.includes('column'), `runs: a bad filter says where it is wrong (${err.split('\n')[0]})`);
  // Column choice: adding a param column shows it.
  await visit('/runs');
  await page.click('details.columns summary');
  await click('input[data-col="params.layers"]');
  check(!!(await page.$('#runs th[data-sort="params.layers"]')), 'runs: a chosen column appears');
  // Compare: two training runs selected; each of their metrics charted with both curves.
  const trainRows = await page.$$('#runs tbody tr');
  let picked = 0;
  for (const row of trainRows) {
    const kind = await row.$eval('td:nth-child(4)', (td) => td.textContent);
    if (kind !== 'run' || picked === 2) continue;
    await (await row.$('input[type=checkbox]')).click();
    picked++;
  }
  await click('#compare');
  check((await page.$$('#compare-charts svg')).length === 2, 'compare: a chart per metric (loss, acc)');
  check((await page.$$('#compare-charts svg[aria-label="loss"] polyline')).length === 2, 'compare: both runs on the loss chart');
  check((await page.content()).includes('differs'), 'compare: the differing param (lr) is marked');
  await page.screenshot({ path: path.join(out, 'compare.png'), fullPage: true });
  const one = runs.runs.find((r) => r.kind === 'run');
  await visit('/run/' + one.id, 'run');
  check((await page.$$('svg polyline')).length >= 2, 'run: loss and acc over steps');

  // Evals: the matrix has every test and provider; filters narrow it as the data says.
  const evals = await api('evals');
  check(evals.total === 1, 'evals: the eval run is listed');
  await visit('/evals', 'evals');
  const ev = await api('evals/' + evals.runs[0].id);
  await visit('/eval/' + evals.runs[0].id, 'eval');
  check((await page.$$('#matrix tbody tr')).length === ev.matrix.tests_total, `eval: ${ev.matrix.tests_total} tests`);
  check((await page.$$('#matrix thead th')).length === ev.matrix.providers.length + 1, 'eval: a column per provider');
  const wantFail = ev.matrix.rows.filter((r) => Object.values(r.cells).some((c) => !c.pass)).length;
  await click('#only-failures');
  check((await page.$$('#matrix tbody tr')).length === wantFail, `eval: failures only shows ${wantFail}`);
  await click('#only-disagreements');
  const wantDis = ev.matrix.rows.filter((r) => { const p = Object.values(r.cells).map((c) => c.pass); return p.some((x) => x) && p.some((x) => !x); }).length;
  check((await page.$$('#matrix tbody tr')).length === wantDis, `eval: failures and disagreements shows ${wantDis}`);
  check((await page.$$('#matrix mark')).length > 0, 'eval: outputs diffed against the first provider');
  await page.screenshot({ path: path.join(out, 'eval-filtered.png'), fullPage: true });

  // Registry: the artifact, its stage holder and the promotion decision.
  await visit('/registry', 'registry');
  const reg = await api('registry');
  const card = await page.$eval('.artifact[data-artifact="m"]', (e) => e.textContent).catch(() => '');
  check(card.includes(reg.artifacts[0].stages.dev.version), 'registry: dev holds the registered version');
  check(card.includes('allowed'), 'registry: the promotion decision is shown');

  // Traffic and interactions.
  await visit('/traffic?since=all', 'traffic');
  const tr = await api('traffic?since=all');
  check((await page.$$('#versions tbody tr')).length === tr.versions.length, 'traffic: a row per version');
  check((await page.$$('#traffic-charts svg')).length === 5, 'traffic: five charts');
  await visit('/interactions', 'interactions');
  const all = await api('interactions');
  check((await page.$$('#interactions tbody tr')).length === Math.min(all.total, 50), `interactions: the newest 50 of ${all.total}`);
  if (all.total > 50) {  // server-side pages: Next shows the API's second page
    const second = await api('interactions?offset=50');
    const buttons = await page.$$('.pager button');
    const prev = await page.evaluate(() => document.body.dataset.ready);
    await buttons[1].click();
    await page.waitForFunction((p) => document.body.dataset.ready !== p, { timeout: 15000 }, prev);
    const firstId = await page.$eval('#interactions tbody tr', (tr) => tr.dataset.id);
    check(firstId === second.rows[0].id, 'interactions: the next page is the API\'s offset 50');
  }
  await visit('/interactions');
  await page.type('#search', 'river');
  await click('#do-search');
  const rows = await cellTexts('#interactions tbody tr td:nth-child(4)');
  check(rows.length === 1 && rows[0].includes('river'), 'interactions: search finds the one prompt');
  await page.select('#status', 'error');
  await settle();
  const errs = (await api('interactions?status=error&q=river')).total;
  check((await page.$$('#interactions tbody tr')).length === errs, 'interactions: status filter');
  const first = all.rows.find((r) => r.feedback.length);
  await visit('/interaction/' + first.id, 'interaction');
  check((await page.content()).includes('helpful'), 'interaction: its feedback, by score name');

  console.log(problems.length ? `problems:\n  ${problems.join('\n  ')}` : 'no console errors');
  await browser.close();
  process.exit(failures || problems.length ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
