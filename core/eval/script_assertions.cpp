#include "core/eval/script_assertions.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/eval/assertions.hpp"
#include "core/util/subprocess.hpp"

namespace xops {

namespace {

// Responses start with this marker; anything else a script prints is kept for messages.
const std::string kMarker = "\x1exops-result:";

// Node: promptfoo's javascript assertion contract. console output goes to stderr so it can
// never be mistaken for a result.
const char* kNodeWorker = R"JS(
const readline = require('readline');
const path = require('path');
const out = process.stdout;
for (const k of ['log', 'info', 'warn', 'debug']) console[k] = (...a) => process.stderr.write(a.join(' ') + '\n');
const cache = new Map();
function body(code) {
  code = code.replace(/\s+$/, '');
  if (code.includes('\n')) return code;
  const t = code.trim().replace(/;+\s*$/, '');
  if (/^(const|let|var)\s/.test(t)) {
    const i = t.lastIndexOf(';');
    if (i >= 0 && t.slice(i + 1).trim()) return t.slice(0, i + 1) + ' return ' + t.slice(i + 1).trim();
    return t;
  }
  return 'return ' + t;
}
const rl = readline.createInterface({ input: process.stdin, terminal: false });
let queue = Promise.resolve();
rl.on('line', (line) => {
  queue = queue.then(async () => {
    let req, res;
    try {
      req = JSON.parse(line);
      let fn;
      if (req.file) {
        const m = require(path.resolve(req.file));
        fn = req.function ? m[req.function] : (typeof m === 'function' ? m : (m.default || m));
        if (typeof fn !== 'function') throw new Error(`${req.file} does not export a function${req.function ? ' ' + req.function : ''}`);
      } else {
        fn = cache.get(req.code);
        if (!fn) { fn = new Function('output', 'context', body(req.code)); cache.set(req.code, fn); }
      }
      const v = await Promise.resolve(fn(req.output, req.context));
      res = { ok: true, value: v === undefined ? null : v, undefined: v === undefined };
    } catch (e) {
      res = { ok: false, error: String((e && e.message) || e) };
    }
    out.write(MARKER + JSON.stringify(res) + '\n');
  });
});
)JS";

// Python: promptfoo's python assertion contract (inline code becomes main(output, context);
// files export get_assert or the named function). print() goes to stderr.
const char* kPythonWorker = R"PY(
import importlib.util, json, os, re, sys, traceback
out = sys.stdout
sys.stdout = sys.stderr
cache = {}
modules = {}
def build(code):
    if '\n' in code:
        m = re.search(r'^(?!\s*$)\s+', code, re.M)
        indent = m.group(0) if m else '    '
        src = 'import json\ndef main(output, context):\n' + '\n'.join(indent + l for l in code.split('\n'))
    else:
        src = 'import json\ndef main(output, context):\n    return ' + code
    g = {}
    exec(compile(src, '<assertion>', 'exec'), g)
    return g['main']
def load(path):
    key = (path, os.stat(path).st_mtime_ns)
    if key not in modules:
        spec = importlib.util.spec_from_file_location('xops_assertion_%d' % len(modules), path)
        mod = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(path))
        spec.loader.exec_module(mod)
        modules[key] = mod
    return modules[key]
for line in sys.stdin:
    try:
        req = json.loads(line)
        if req.get('file'):
            fn = getattr(load(req['file']), req.get('function') or 'get_assert')
        else:
            fn = cache.get(req['code'])
            if fn is None:
                fn = cache[req['code']] = build(req['code'])
        v = fn(req['output'], req['context'])
        if hasattr(v, '__dict__') and not isinstance(v, (bool, int, float, str)):
            v = dict(vars(v))
        res = {'ok': True, 'value': v, 'undefined': v is None}
    except BaseException as e:
        res = {'ok': False, 'error': ''.join(traceback.format_exception_only(type(e), e)).strip()}
    out.write(MARKER + json.dumps(res, default=str) + '\n')
    out.flush()
)PY";

std::string program(const char* src, const char* marker_literal) {
  std::string s = src;
  auto at = s.find("MARKER");
  while (at != std::string::npos) {
    s.replace(at, 6, marker_literal);
    at = s.find("MARKER", at);
  }
  return s;
}

}  // namespace

ScriptWorkers::ScriptWorkers() = default;
ScriptWorkers::~ScriptWorkers() = default;

nlohmann::json ScriptWorkers::call(const std::string& language, const nlohmann::json& request,
                                   int timeout_ms) {
  bool js = language == "javascript";
  auto& w = js ? js_ : py_;
  std::lock_guard<std::mutex> lock(w.mu);  // one worker per language: calls take turns
  if (!w.child || !w.child->alive()) {
    std::vector<std::string> argv =
        js ? std::vector<std::string>{"node", "-e", program(kNodeWorker, "'\\x1exops-result:'")}
           : std::vector<std::string>{"python3", "-u", "-c",
                                      program(kPythonWorker, "'\\x1exops-result:'")};
    try {
      w.child = std::make_unique<LineChild>(argv);
    } catch (const Error& e) {
      throw runtime_error(
          fmt::format("{} assertions need {}: {}", language, js ? "Node.js (node)" : "python3",
                      e.what()),
          js ? "install it: apt-get install nodejs" : "install it: apt-get install python3");
    }
  }
  if (!w.child->write(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                      "\n")) {
    auto tail = w.child->stderr_tail();
    w.child.reset();
    throw runtime_error(
        fmt::format("the {} worker ended: {}", language, tail.empty() ? "no message" : tail));
  }
  auto line = w.child->read_line(kMarker, timeout_ms);
  if (!line) {
    bool timed_out = !w.child->alive();
    auto tail = w.child->stderr_tail();
    w.child.reset();
    throw runtime_error(
        timed_out
            ? fmt::format("the {} assertion timed out after {} ms", language, timeout_ms)
            : fmt::format("the {} worker ended: {}", language, tail.empty() ? "no message" : tail));
  }
  nlohmann::json res;
  try {
    res = nlohmann::json::parse(*line);
  } catch (const nlohmann::json::exception&) {
    throw runtime_error(fmt::format("the {} worker answered something that is not JSON", language));
  }
  if (!res.value("ok", false))
    throw runtime_error(res.value("error", std::string("the script failed")));
  if (res.value("undefined", false)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return res["value"];
}

AssertionResult normalize_script_result(const std::string& language, const nlohmann::json& value,
                                        const AssertionSpec& a, bool inverse) {
  const std::string code = language == "javascript" ? "Custom function" : "Python code";
  const std::string lang = language == "javascript" ? "JavaScript" : "Python";
  AssertionResult r;
  auto from_bool = [&](bool v) {
    r.pass = v != inverse;
    r.score = r.pass ? 1 : 0;
    r.reason =
        r.pass ? "Assertion passed" : fmt::format("{} returned {}", code, v ? "true" : "false");
  };
  auto from_number = [&](double v) {
    bool raw = a.threshold ? v >= *a.threshold : v > 0;
    r.pass = raw != inverse;
    r.score = v;
    r.reason =
        r.pass ? "Assertion passed" : fmt::format("{} returned {}", code, raw ? "true" : "false");
  };
  auto bad = [&](const std::string& got) {
    throw runtime_error(fmt::format(
        "{} assertion must return a boolean, number, or {{pass, score, reason}} object; got {}",
        lang, got));
  };
  nlohmann::json v = value;
  // JavaScript functions must return a boolean, number or object (promptfoo's validateResult);
  // Python's printed result may be the text "true" / "0.5" / "{...}".
  if (language == "javascript" && v.is_string())
    throw runtime_error(fmt::format(
        "Custom function must return a boolean, number, or GradingResult object. Got type "
        "string: {}",
        v.dump()));
  if (v.is_string()) {
    auto s = v.get<std::string>();
    std::string lower;
    for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "false") {
      from_bool(lower == "true");
      return r;
    }
    if (!s.empty() && s[0] == '{') {
      try {
        v = nlohmann::json::parse(s);
      } catch (const nlohmann::json::exception&) {
        throw runtime_error(fmt::format("Invalid JSON when parsing result: {}", s.substr(0, 200)));
      }
    } else {
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (end == s.c_str()) bad(nlohmann::json(s.substr(0, 200)).dump());
      from_number(d);
      return r;
    }
  }
  if (v.is_boolean()) {
    from_bool(v.get<bool>());
    return r;
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) bad("a number that is not finite");
    from_number(d);
    return r;
  }
  if (!v.is_object()) bad(v.is_discarded() ? "undefined" : v.is_null() ? "null" : v.type_name());
  // A GradingResult ({pass, score, reason}; Python may say pass_).
  const nlohmann::json* p = v.contains("pass")    ? &v["pass"]
                            : v.contains("pass_") ? &v["pass_"]
                                                  : nullptr;
  if (!p || !p->is_boolean()) bad("an object without a boolean 'pass'");
  bool pass = p->get<bool>();
  double score =
      v.contains("score") && v["score"].is_number() ? v["score"].get<double>() : (pass ? 1.0 : 0.0);
  std::string reason =
      v.contains("reason") && v["reason"].is_string() ? v["reason"].get<std::string>() : "";
  if (language == "python" && a.threshold && score < *a.threshold) {
    pass = false;
    auto msg = fmt::format("Python score {} is less than threshold {}", score, *a.threshold);
    reason = reason.empty() ? msg : msg + ": " + reason;
  }
  r.pass = pass != inverse;
  r.score = score;
  r.reason = inverse ? (r.pass           ? "Assertion passed"
                        : reason.empty() ? code + " returned true"
                                         : reason)
                     : reason;
  return r;
}

}  // namespace xops
