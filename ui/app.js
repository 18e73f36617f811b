// xops ui: one page, hash routes, every view a client of the JSON API under /api/ (docs/ui.md).
// Data is only ever put in the page as text (textContent), never as markup.
'use strict';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];

function h(tag, attrs, ...children) {
  const svg = ['svg', 'polyline', 'line', 'text', 'g', 'circle', 'rect'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'style') for (const [p, x] of Object.entries(v)) el.style.setProperty(p, x);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== '' && v !== null) q.set(k, v);
  const res = await fetch('/api/' + path + (q.toString() ? '?' + q : ''));
  const body = await res.json().catch(() => ({ error: 'the server sent no JSON' }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function route() {
  const hash = location.hash.slice(1) || '/runs';
  const [path, query] = hash.split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(query || '') };
}

function go(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== '' && v !== null) q.set(k, v);
  location.hash = '#' + path + (q.toString() ? '?' + q : '');
}

const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');
function fmtNum(x) {
  if (x === null || x === undefined) return '-';
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(3) : x.toPrecision(4).replace(/\.?0+$/, '');
}
const fmtDuration = (r) => (r.end_ms ? ((r.end_ms - r.start_ms) / 1000).toFixed(1) + ' s' : '-');
const badge = (text, cls) => h('span', { class: 'badge ' + (cls || text) }, text);
const errorBox = (e) => h('div', { class: 'error', role: 'alert' }, e.message || String(e));
// "run=ID" in a gate's text becomes a link to that run.
function linkRuns(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(/run=([0-9A-Za-z]+)/g)) {
    out.push(text.slice(last, m.index), 'run=', h('a', { href: '#/run/' + m[1] }, m[1]));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

// A line chart as SVG: series [{name, points: [[x, y], ...]}]; x as time when opts.time.
function lineChart(series, opts) {
  const W = opts.width || 560, H = opts.height || 220, L = 56, R = 12, T = 22, B = 28;
  const pts = series.flatMap((s) => s.points).filter((p) => p[1] !== null && isFinite(p[1]));
  const svg = h('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'xMinYMin meet', role: 'img', 'aria-label': opts.title });
  svg.appendChild(h('text', { x: L, y: 14 }, opts.title));
  if (!pts.length) {
    svg.appendChild(h('text', { x: W / 2 - 30, y: H / 2 }, 'no data'));
    return h('div', {}, svg);
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (opts.zero) y0 = Math.min(0, y0);
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  svg.appendChild(h('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#999' }));
  svg.appendChild(h('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#999' }));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    svg.appendChild(h('text', { x: 4, y: sy(y) + 4 }, fmtNum(y)));
    svg.appendChild(h('line', { x1: L, y1: sy(y), x2: W - R, y2: sy(y), stroke: '#eee' }));
  }
  const xl = (x) => (opts.time ? fmtTime(x).slice(5, 16) : fmtNum(x));
  svg.appendChild(h('text', { x: L, y: H - 8 }, xl(x0)));
  svg.appendChild(h('text', { x: W - R - 80, y: H - 8 }, xl(x1)));
  series.forEach((s, i) => {
    const ok = s.points.filter((p) => p[1] !== null && isFinite(p[1]));
    const c = COLORS[i % COLORS.length];
    if (ok.length === 1) svg.appendChild(h('circle', { cx: sx(ok[0][0]), cy: sy(ok[0][1]), r: 3, fill: c }));
    else svg.appendChild(h('polyline', { fill: 'none', stroke: c, 'stroke-width': 1.6, points: ok.map((p) => `${sx(p[0])},${sy(p[1])}`).join(' ') }));
  });
  const legend = h('div', { class: 'legend' }, series.map((s, i) => h('span', { style: { '--c': COLORS[i % COLORS.length] } }, s.name)));
  return h('div', {}, svg, series.length > 1 ? legend : null);
}

function pager(total, offset, limit, to) {
  const end = Math.min(total, offset + limit);
  return h('div', { class: 'pager' },
    h('button', { disabled: offset <= 0, onclick: () => to(Math.max(0, offset - limit)) }, '‹ Prev'),
    h('span', { class: 'muted' }, total ? `${offset + 1}–${end} of ${total}` : 'none'),
    h('button', { disabled: end >= total, onclick: () => to(offset + limit) }, 'Next ›'));
}

// ---- runs -------------------------------------------------------------------------------
const COLS_KEY = 'xops.ui.columns';
function chosenColumns(params, metrics) {
  const saved = JSON.parse(localStorage.getItem(COLS_KEY) || 'null');
  if (saved) return saved;
  return [...metrics.slice(0, 4).map((m) => 'metrics.' + m), ...params.slice(0, 3).map((p) => 'params.' + p)];
}

async function runsPage(p, mount, opts) {
  const kindFilter = opts && opts.evals;
  const sort = p.get('sort') || '-start_time', filter = p.get('filter') || '', offset = +(p.get('offset') || 0);
  const base = kindFilter ? '/evals' : '/runs';
  const page = h('div', {}, h('h1', {}, kindFilter ? 'Evals' : 'Runs'));
  const input = h('input', { type: 'text', id: 'filter', value: filter, placeholder: "filter: metrics.loss < 0.5 and params.lr = '0.001'" });
  const apply = () => go(base, { sort, filter: input.value.trim() });
  input.addEventListener('keydown', (e) => e.key === 'Enter' && apply());
  const toolbar = h('div', { class: 'toolbar' }, input, h('button', { id: 'apply-filter', onclick: apply }, 'Filter'));
  page.appendChild(toolbar);
  mount(page);
  let data;
  try {
    data = await api(kindFilter ? 'evals' : 'runs', { sort, filter, offset, limit: 50 });
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  const cols = chosenColumns(data.params, data.metrics).filter((c) => data.params.includes(c.slice(7)) || data.metrics.includes(c.slice(8)));
  const picker = h('details', { class: 'columns' }, h('summary', {}, 'Columns'),
    h('div', {}, [...data.metrics.map((m) => 'metrics.' + m), ...data.params.map((x) => 'params.' + x)].map((c) =>
      h('label', {}, h('input', { type: 'checkbox', checked: cols.includes(c), 'data-col': c, onchange: (e) => {
        const now = new Set(chosenColumns(data.params, data.metrics));
        e.target.checked ? now.add(c) : now.delete(c);
        localStorage.setItem(COLS_KEY, JSON.stringify([...now]));
        render();
      } }), ' ' + c))));
  const selected = new Set();
  const compare = h('button', { id: 'compare', disabled: true, onclick: () => go('/compare', { ids: [...selected].join(',') }) }, 'Compare selected');
  toolbar.append(picker, compare);
  const sortKey = sort.replace(/^-/, '').replace(/ (asc|desc)$/, '');
  const desc = sort.startsWith('-') || sort.endsWith(' desc');
  const header = (label, key) => h('th', {
    class: 'sortable' + (sortKey === key ? ' sorted' + (desc ? '' : ' asc') : ''), 'data-sort': key,
    onclick: () => go(base, { sort: (sortKey === key && desc ? '' : '-') + key, filter }),
  }, label);
  const table = h('table', { id: 'runs' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), header('Name', 'name'), header('Status', 'status'), header('Kind', 'kind'),
      header('Started', 'start_time'), h('th', {}, 'Duration'), cols.map((c) => header(c.replace(/^(metrics|params)\./, ''), c)))),
    h('tbody', {}, data.runs.map((r) => h('tr', { class: 'clickable', 'data-id': r.id },
      h('td', {}, h('input', { type: 'checkbox', 'aria-label': 'select ' + r.id, onclick: (e) => e.stopPropagation(), onchange: (e) => {
        e.target.checked ? selected.add(r.id) : selected.delete(r.id);
        compare.disabled = selected.size < 2;
      } })),
      h('td', { onclick: () => go((kindFilter ? '/eval/' : '/run/') + r.id) }, h('a', { href: (kindFilter ? '#/eval/' : '#/run/') + r.id }, r.name || r.id.slice(0, 10))),
      h('td', {}, badge(r.status)), h('td', {}, r.kind), h('td', {}, fmtTime(r.start_ms)), h('td', { class: 'num' }, fmtDuration(r)),
      cols.map((c) => h('td', { class: 'num' }, c.startsWith('metrics.') ? fmtNum(r.metrics[c.slice(8)]) : r.params[c.slice(7)] ?? '-'))))));
  page.append(table, pager(data.total, data.offset, data.limit, (o) => go(base, { sort, filter, offset: o })));
}

async function runPage(id, mount) {
  const page = h('div', {});
  mount(page);
  let r;
  try {
    r = await api('runs/' + encodeURIComponent(id));
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  page.append(h('h1', {}, r.name || r.id, ' ', badge(r.status)),
    h('table', { class: 'kv' }, h('tbody', {}, [['id', r.id], ['kind', r.kind], ['command', r.command], ['started', fmtTime(r.start_ms)],
      ['duration', fmtDuration(r)], ['git', (r.git_commit || '').slice(0, 12) + (r.git_dirty ? ' (dirty)' : '')], ['user', r.user + '@' + r.host],
      ['exit code', r.exit_code]].map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v ?? '-'))))));
  if (r.kind === 'eval') page.appendChild(h('p', {}, h('a', { href: '#/eval/' + r.id }, 'Open the results matrix ›')));
  const keys = Object.keys(r.series);
  if (keys.length) {
    page.appendChild(h('h2', {}, 'Metrics'));
    page.appendChild(h('div', { class: 'cards' }, keys.map((k) => lineChart([{ name: k, points: r.series[k] }], { title: k }))));
  }
  const kv = (title, obj) => Object.keys(obj).length && h('div', {}, h('h2', {}, title),
    h('table', { class: 'kv' }, h('tbody', {}, Object.entries(obj).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, String(v)))))));
  page.append(kv('Params', r.params) || '', kv('Tags', r.tags) || '');
  if (r.artifacts.length) page.append(h('h2', {}, 'Artifacts'), h('table', {}, h('tbody', {}, r.artifacts.map((a) =>
    h('tr', {}, h('td', {}, a.name), h('td', {}, a.sha256.slice(0, 16)), h('td', { class: 'num' }, a.size + ' B'))))));
}

async function comparePage(p, mount) {
  const ids = (p.get('ids') || '').split(',').filter(Boolean);
  const page = h('div', {}, h('h1', {}, `Compare ${ids.length} runs`));
  mount(page);
  let runs;
  try {
    runs = await Promise.all(ids.map((id) => api('runs/' + encodeURIComponent(id))));
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  const names = runs.map((r) => r.name || r.id.slice(0, 10));
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.series)))].sort();
  page.appendChild(h('div', { class: 'cards', id: 'compare-charts' }, keys.map((k) =>
    lineChart(runs.map((r, i) => ({ name: names[i], points: r.series[k] || [] })), { title: k }))));
  const rows = (field) => [...new Set(runs.flatMap((r) => Object.keys(r[field])))].sort().map((k) => {
    const vals = runs.map((r) => r[field][k]);
    const differs = new Set(vals.map(String)).size > 1;
    return h('tr', {}, h('td', {}, k, differs ? ' ' : '', differs ? badge('differs', 'fail') : ''), vals.map((v) => h('td', { class: 'num' }, v === undefined ? '-' : fmtNum(v))));
  });
  page.append(h('h2', {}, 'Params and last metric values'), h('table', { id: 'compare-table' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), names.map((n) => h('th', {}, n)))),
    h('tbody', {}, rows('params'), rows('metrics'))));
}

// ---- evals ------------------------------------------------------------------------------
// Word-level diff of b against a (LCS): b's words with the ones a lacks marked.
function diffWords(a, b) {
  const A = a.split(/(\s+)/), B = b.split(/(\s+)/);
  if (A.length * B.length > 400000) return [b];
  const dp = Array.from({ length: A.length + 1 }, () => new Uint16Array(B.length + 1));
  for (let i = A.length - 1; i >= 0; i--) for (let j = B.length - 1; j >= 0; j--)
    dp[i][j] = A[i] === B[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < A.length && j < B.length) {
    if (A[i] === B[j]) out.push(B[j]), i++, j++;
    else if (dp[i + 1][j] >= dp[i][j + 1]) out.push(h('mark', { class: 'del' }, A[i++]));
    else out.push(h('mark', { class: 'add' }, B[j++]));
  }
  while (i < A.length) out.push(h('mark', { class: 'del' }, A[i++]));
  while (j < B.length) out.push(h('mark', { class: 'add' }, B[j++]));
  return out;
}

async function evalPage(id, p, mount) {
  const page = h('div', {});
  mount(page);
  const failures = p.get('failures') === '1', disagree = p.get('disagree') === '1', offset = +(p.get('offset') || 0);
  let r;
  try {
    r = await api('evals/' + encodeURIComponent(id), { failures: failures ? 1 : '', disagree: disagree ? 1 : '', offset, limit: 50 });
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  const nav = (o) => go('/eval/' + id, Object.assign({ failures: failures ? 1 : '', disagree: disagree ? 1 : '' }, o));
  page.append(h('h1', {}, r.name, ' ', badge(r.status)),
    h('p', {}, Object.entries(r.metrics).filter(([k]) => /^(pass_rate|cases|errors|pairwise\/win_rate)/.test(k)).map(([k, v]) => h('span', { class: 'badge' }, `${k} ${fmtNum(v)}`)),
      ' ', h('a', { href: '#/run/' + r.id }, 'run details')));
  if (!r.matrix) {
    page.appendChild(h('p', { class: 'muted' }, 'This eval kept no case results (it ran before xops kept them, or untracked).'));
    return;
  }
  const m = r.matrix;
  page.appendChild(h('div', { class: 'toolbar' },
    h('label', {}, h('input', { type: 'checkbox', id: 'only-failures', checked: failures, onchange: (e) => nav({ failures: e.target.checked ? 1 : '' }) }), ' failures only'),
    h('label', {}, h('input', { type: 'checkbox', id: 'only-disagreements', checked: disagree, onchange: (e) => nav({ disagree: e.target.checked ? 1 : '' }) }), ' disagreements only'),
    h('span', { class: 'muted' }, `${m.matched} of ${m.tests_total} tests; outputs diffed against ${m.providers[0] || '-'}`)));
  const table = h('table', { id: 'matrix' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Test'), m.providers.map((pr) => h('th', {}, pr)))),
    h('tbody', {}, m.rows.map((row) => {
      const first = row.cells[m.providers[0]];
      return h('tr', {},
        h('td', {}, h('div', {}, row.description || '#' + row.test), h('pre', { class: 'muted' }, JSON.stringify(row.vars))),
        m.providers.map((pr, i) => {
          const c = row.cells[pr];
          if (!c) return h('td', { class: 'muted' }, '-');
          return h('td', { class: c.pass ? 'cell-pass' : 'cell-fail' },
            badge(c.pass ? 'PASS' : 'FAIL', c.pass ? 'pass' : 'fail'), h('span', { class: 'muted' }, ` score ${fmtNum(c.score)} · ${fmtNum(c.latency_ms)} ms`),
            c.error ? h('div', { class: 'error' }, c.error) : null,
            h('pre', {}, i > 0 && first ? diffWords(first.output, c.output) : c.output),
            c.asserts.filter((a) => !a.pass).map((a) => h('div', { class: 'muted' }, `${a.type}: ${a.reason}`)));
        }));
    })));
  page.append(table, pager(m.matched, m.offset, m.limit, (o) => nav({ offset: o })));
}

// ---- registry ---------------------------------------------------------------------------
async function registryPage(mount) {
  const page = h('div', {}, h('h1', {}, 'Registry'));
  mount(page);
  let r;
  try {
    r = await api('registry');
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  if (!r.artifacts.length) page.appendChild(h('p', { class: 'muted' }, 'No registered versions yet (xops promote register NAME).'));
  for (const a of r.artifacts) {
    const card = h('div', { class: 'card artifact', 'data-artifact': a.name },
      h('h2', {}, a.name, ' ', h('span', { class: 'muted' }, a.type), a.deprecated ? badge('deprecated', 'fail') : ''),
      h('table', {}, h('thead', {}, h('tr', {}, r.stages.map((s) => h('th', {}, s)))),
        h('tbody', {}, h('tr', {}, r.stages.map((s) => h('td', {}, a.stages[s] ? a.stages[s].version : '-'))))),
      h('h2', {}, 'Versions'),
      h('table', {}, h('tbody', {}, a.versions.slice().reverse().map((v) => h('tr', {},
        h('td', {}, v.version), h('td', {}, v.commit.slice(0, 8)), h('td', {}, fmtTime(v.time * 1000)),
        h('td', {}, v.stages.map((s) => badge(s, 'running'))), h('td', { class: 'muted' }, v.message))))),
      h('h2', {}, 'History'),
      h('table', {}, h('tbody', {}, a.history.slice().reverse().map((e) => h('tr', {},
        h('td', {}, fmtTime(e.time * 1000)), h('td', {}, e.action), h('td', {}, e.version), h('td', {}, e.stage), h('td', { class: 'muted' }, e.author))))));
    const promos = r.promotions.filter((x) => x.artifact === a.name);
    if (promos.length) card.append(h('h2', {}, 'Promotion decisions and their evidence'),
      h('table', {}, h('tbody', {}, promos.map((x) => h('tr', {},
        h('td', {}, fmtTime(x.start_ms)), h('td', {}, `${x.version} → ${x.stage}`), h('td', {}, badge(x.allowed ? 'allowed' : 'refused')),
        h('td', {}, x.gates.map((g) => h('div', {}, linkRuns(g)))), h('td', {}, h('a', { href: '#/run/' + x.run }, 'run')))))));
    page.appendChild(card);
  }
}

// ---- traffic ----------------------------------------------------------------------------
async function trafficPage(p, mount) {
  const since = p.get('since') || '7d', bucket = p.get('bucket') || 'hour';
  const page = h('div', {}, h('h1', {}, 'Traffic'));
  const sel = (id, value, options, key) => h('select', { id, onchange: (e) => go('/traffic', Object.assign({ since, bucket }, { [key]: e.target.value })) },
    options.map((o) => h('option', { value: o, selected: o === value }, o)));
  page.appendChild(h('div', { class: 'toolbar' }, 'since', sel('since', since, ['1d', '7d', '30d', '365d', 'all'], 'since'), 'per', sel('bucket', bucket, ['hour', 'day'], 'bucket')));
  mount(page);
  let r;
  try {
    r = await api('traffic', { since, bucket });
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  if (!r.versions.length) {
    page.appendChild(h('p', { class: 'muted' }, 'No traffic in this window (xops serve logs it).'));
    return;
  }
  const scoreText = (s) => Object.entries(s).map(([k, v]) => `${k} ${v.n}/${fmtNum(v.mean)}`).join(', ') || '-';
  page.appendChild(h('table', { id: 'versions' }, h('thead', {}, h('tr', {}, ['Version', 'Requests', 'Errors', 'Refused', 'Cancelled', 'Latency p50/p95 ms', 'TTFT p95 ms', 'Tokens in/out', 'Feedback n/mean'].map((x) => h('th', {}, x)))),
    h('tbody', {}, r.versions.map((v) => h('tr', { class: 'clickable', onclick: () => go('/interactions', { version: v.key }) },
      h('td', {}, v.key), h('td', { class: 'num' }, v.requests), h('td', { class: 'num' }, v.errors), h('td', { class: 'num' }, v.refused), h('td', { class: 'num' }, v.cancelled),
      h('td', { class: 'num' }, v.latency_ms ? `${fmtNum(v.latency_ms.p50)} / ${fmtNum(v.latency_ms.p95)}` : '-'),
      h('td', { class: 'num' }, v.ttft_ms ? fmtNum(v.ttft_ms.p95) : '-'), h('td', { class: 'num' }, `${v.prompt_tokens}/${v.completion_tokens}`),
      h('td', {}, scoreText(v.scores)))))));
  const chart = (title, f) => lineChart(r.versions.map((v) => ({ name: v.key, points: v.series.map((g) => [g.first_ms, f(g)]) })), { title, time: true, zero: true });
  page.appendChild(h('div', { class: 'cards', id: 'traffic-charts' },
    chart('requests', (g) => g.requests),
    chart('p95 latency (ms)', (g) => (g.latency_ms ? g.latency_ms.p95 : null)),
    chart('p95 time to first token (ms)', (g) => (g.ttft_ms ? g.ttft_ms.p95 : null)),
    chart('errors + refused', (g) => g.errors + g.refused),
    chart('feedback mean (score)', (g) => (g.scores.score ? g.scores.score.mean : null))));
}

async function interactionsPage(p, mount) {
  const q = p.get('q') || '', version = p.get('version') || '', status = p.get('status') || '', offset = +(p.get('offset') || 0);
  const page = h('div', {}, h('h1', {}, 'Interactions'));
  const input = h('input', { type: 'text', id: 'search', value: q, placeholder: 'search prompts and answers, or an id' });
  const statusSel = h('select', { id: 'status' }, ['', 'ok', 'error'].map((s) => h('option', { value: s, selected: s === status }, s || 'any status')));
  const apply = () => go('/interactions', { q: input.value, version, status: statusSel.value });
  input.addEventListener('keydown', (e) => e.key === 'Enter' && apply());
  statusSel.addEventListener('change', apply);
  page.appendChild(h('div', { class: 'toolbar' }, input, statusSel, h('button', { id: 'do-search', onclick: apply }, 'Search'),
    version ? h('span', {}, 'version ', badge(version), h('a', { href: '#/interactions' }, ' ×')) : null));
  mount(page);
  let r;
  try {
    r = await api('interactions', { q, version, status, offset, limit: 50 });
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  page.appendChild(h('table', { id: 'interactions' }, h('thead', {}, h('tr', {}, ['Time', 'Version', 'Status', 'Prompt', 'Answer', 'Latency ms', 'Feedback'].map((x) => h('th', {}, x)))),
    h('tbody', {}, r.rows.map((x) => h('tr', { class: 'clickable', 'data-id': x.id, onclick: () => go('/interaction/' + x.id) },
      h('td', {}, fmtTime(x.created_ms)), h('td', {}, x.version), h('td', {}, badge(String(x.status), x.status < 400 ? 'pass' : 'fail'), x.error),
      h('td', {}, h('pre', {}, x.prompt)), h('td', {}, h('pre', {}, x.output)), h('td', { class: 'num' }, fmtNum(x.latency_ms)),
      h('td', {}, x.feedback.map((f) => h('div', {}, `${f.name || 'comment'} ${f.score ?? ''} ${f.comment}`))))))));
  page.appendChild(pager(r.total, r.offset, r.limit, (o) => go('/interactions', { q, version, status, offset: o })));
}

async function interactionPage(id, mount) {
  const page = h('div', {});
  mount(page);
  let x;
  try {
    x = await api('interactions/' + encodeURIComponent(id));
  } catch (e) {
    page.appendChild(errorBox(e));
    return;
  }
  page.append(h('h1', {}, x.id, ' ', badge(String(x.status), x.status < 400 ? 'pass' : 'fail')),
    h('table', { class: 'kv' }, h('tbody', {}, [['time', fmtTime(x.created_ms)], ['version', x.version], ['adapter', x.adapter], ['arm', x.arm], ['user', x.user],
      ['finish', x.finish_reason], ['tokens in/out', `${x.prompt_tokens}/${x.completion_tokens}`], ['latency ms', fmtNum(x.latency_ms)], ['TTFT ms', fmtNum(x.ttft_ms)],
      ['error', x.error], ['params', JSON.stringify(x.params)]].map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v || '-'))))),
    h('h2', {}, 'Prompt'), h('pre', {}, x.prompt), h('h2', {}, 'Answer'), h('pre', {}, x.output),
    h('h2', {}, 'Feedback'), x.feedback.length ? h('table', {}, h('tbody', {}, x.feedback.map((f) => h('tr', {},
      h('td', {}, fmtTime(f.created_ms)), h('td', {}, f.name || '-'), h('td', { class: 'num' }, fmtNum(f.score)), h('td', {}, f.user), h('td', {}, f.session), h('td', {}, f.comment))))) : h('p', { class: 'muted' }, 'none'));
}

// ---- shell ------------------------------------------------------------------------------
let generation = 0;
async function render() {
  const my = ++generation;
  const main = document.getElementById('main');
  const mount = (el) => {
    if (my !== generation) return;  // a newer route has rendered since
    main.replaceChildren(el);
  };
  const { parts, params } = route();
  const page = parts[0] || 'runs';
  const top = { run: 'runs', compare: 'runs', eval: 'evals', interaction: 'interactions' }[page] || page;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.page === top);
  document.body.dataset.page = page;
  try {
    if (page === 'runs') await runsPage(params, mount);
    else if (page === 'run') await runPage(parts[1], mount);
    else if (page === 'compare') await comparePage(params, mount);
    else if (page === 'evals') await runsPage(params, mount, { evals: true });
    else if (page === 'eval') await evalPage(parts[1], params, mount);
    else if (page === 'registry') await registryPage(mount);
    else if (page === 'traffic') await trafficPage(params, mount);
    else if (page === 'interactions') await interactionsPage(params, mount);
    else if (page === 'interaction') await interactionPage(parts[1], mount);
    else mount(errorBox(new Error('no page ' + page)));
  } finally {
    if (my === generation) document.body.dataset.ready = String(my);
  }
}

window.addEventListener('hashchange', render);
window.addEventListener('DOMContentLoaded', async () => {
  render();
  try {
    const s = await api('summary');
    document.getElementById('project').textContent = `${s.project} · ${s.runs} runs · ${s.evals} evals · ${s.interactions} interactions`;
  } catch (e) {
    document.getElementById('project').textContent = e.message;
  }
});
