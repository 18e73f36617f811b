#include "core/eval/assertions.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/eval/script_assertions.hpp"
#include "core/error.hpp"
#include "core/util/subprocess.hpp"
#include "core/util/text_distance.hpp"

namespace xops {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c >= 0x80) {
      w += static_cast<char>(std::tolower(c));
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

std::string text_of(const nlohmann::json& v, const nlohmann::json* vars) {
  std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
  return vars ? render_template(s, *vars, "an assertion value") : s;
}

std::vector<std::string> list_of(const nlohmann::json& v, const nlohmann::json* vars) {
  std::vector<std::string> out;
  if (v.is_array())
    for (const auto& x : v) out.push_back(text_of(x, vars));
  else
    out.push_back(text_of(v, vars));
  return out;
}

bool regex_search(const std::string& pattern, const std::string& subject, std::string* error) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                 &err, &off, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    *error = fmt::format("invalid regex at {}: {}", off, reinterpret_cast<char*>(buf));
    return false;
  }
  auto* md = pcre2_match_data_create_from_pattern(re, nullptr);
  int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.c_str()), subject.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

// Case-insensitive containment for all of Unicode (PCRE2's caseless matching in UTF mode, the
// needle as a literal): `icontains: "ÉTÉ"` finds "été", as promptfoo's toLowerCase() does.
bool contains_caseless(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return true;
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(needle.c_str()), needle.size(),
                                 PCRE2_LITERAL | PCRE2_CASELESS | PCRE2_UTF, &err, &off, nullptr);
  if (!re) return lower(hay).find(lower(needle)) != std::string::npos;  // not UTF-8: bytes, ASCII folding
  auto* md = pcre2_match_data_create_from_pattern(re, nullptr);
  int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(hay.c_str()), hay.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  if (rc < PCRE2_ERROR_NOMATCH) return lower(hay).find(lower(needle)) != std::string::npos;
  return rc >= 0;
}

// First JSON object in a judge's answer.
std::optional<nlohmann::json> find_json(const std::string& s) {
  auto open = s.find('{');
  while (open != std::string::npos) {
    auto close = s.rfind('}');
    if (close == std::string::npos || close < open) break;
    try {
      return nlohmann::json::parse(s.substr(open, close - open + 1));
    } catch (...) {
      open = s.find('{', open + 1);
    }
  }
  return std::nullopt;
}

AssertionResult run_exec_assertion(const std::string& cmd, const AssertionContext& ctx, int timeout_ms) {
  // promptfoo's contract: the script gets the output (and a context JSON) as arguments and
  // prints true/false, a score, or {"pass", "score", "reason"}.
  nlohmann::json context = {{"prompt", ctx.prompt}, {"vars", ctx.vars ? *ctx.vars : std::map<std::string, std::string>{}}};
  // Through the one subprocess runner: its own process group, a timeout (a hung script once
  // hung the whole eval) and an output cap.
  auto res = run_command({"/bin/sh", "-c", cmd + " \"$@\"", "sh", ctx.output, context.dump()}, "",
                         timeout_ms, {}, 1 << 20);
  AssertionResult r;
  if (res.timed_out) {
    r.reason = fmt::format("assertion script timed out after {} ms", timeout_ms);
    return r;
  }
  if (res.output_too_large) {
    r.reason = "assertion script printed more than 1 MiB";
    return r;
  }
  auto t = res.out;
  t.erase(t.find_last_not_of(" \n\r\t") + 1);
  if (res.exit_code != 0) {
    r.reason = fmt::format("assertion script exited with {}", res.exit_code);
    return r;
  }
  if (t == "true" || t == "false") {
    r.pass = t == "true";
    r.score = r.pass ? 1 : 0;
  } else if (auto j = find_json(t)) {
    r.pass = j->value("pass", false);
    r.score = j->value("score", r.pass ? 1.0 : 0.0);
    r.reason = j->value("reason", "");
  } else {
    try {
      r.score = std::stod(t);
      r.pass = r.score >= 0.5;
    } catch (...) {
      r.reason = "assertion script printed neither true/false, a number nor JSON";
    }
  }
  return r;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

}  // namespace

size_t levenshtein(const std::string& a, const std::string& b) { return edit_distance(a, b); }

double rouge_l(const std::string& cand, const std::string& ref) {
  auto c = words(cand), r = words(ref);
  if (c.empty() || r.empty()) return c.empty() && r.empty() ? 1.0 : 0.0;
  // Two rows of the LCS table, not the whole table: outputs can be long.
  if (static_cast<double>(c.size()) * static_cast<double>(r.size()) > 4e8)
    throw runtime_error(fmt::format("rouge-l: texts of {} and {} words are too long to score", c.size(), r.size()));
  std::vector<int> prev(r.size() + 1, 0), cur(r.size() + 1, 0);
  for (size_t i = 1; i <= c.size(); ++i) {
    for (size_t j = 1; j <= r.size(); ++j)
      cur[j] = c[i - 1] == r[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  double lcs = prev[r.size()];
  double p = lcs / c.size(), rc = lcs / r.size();
  return p + rc > 0 ? 2 * p * rc / (p + rc) : 0;
}

static std::map<std::vector<std::string>, int> ngrams(const std::vector<std::string>& w, int n) {
  std::map<std::vector<std::string>, int> m;
  for (size_t i = 0; i + n <= w.size(); ++i) ++m[std::vector<std::string>(w.begin() + i, w.begin() + i + n)];
  return m;
}

double rouge_n(const std::string& cand, const std::string& ref, int n) {
  auto c = ngrams(words(cand), n), r = ngrams(words(ref), n);
  int overlap = 0, total = 0;
  for (const auto& [g, k] : r) {
    total += k;
    auto it = c.find(g);
    if (it != c.end()) overlap += std::min(k, it->second);
  }
  return total ? static_cast<double>(overlap) / total : 0;
}

double bleu(const std::string& cand, const std::string& ref) {
  // BLEU-4 with uniform weights, brevity penalty and +1 smoothing for n > 1.
  auto c = words(cand), r = words(ref);
  if (c.empty()) return 0;
  double log_sum = 0;
  for (int n = 1; n <= 4; ++n) {
    auto cg = ngrams(c, n), rg = ngrams(r, n);
    int match = 0, total = 0;
    for (const auto& [g, k] : cg) {
      total += k;
      auto it = rg.find(g);
      if (it != rg.end()) match += std::min(k, it->second);
    }
    double p = n == 1 ? (total ? static_cast<double>(match) / total : 0) : (match + 1.0) / (total + 1.0);
    if (p <= 0) return 0;
    log_sum += std::log(p) / 4;
  }
  double bp = c.size() >= r.size() ? 1.0 : std::exp(1.0 - static_cast<double>(r.size()) / c.size());
  return bp * std::exp(log_sum);
}

std::string validate_json_schema(const nlohmann::json& v, const nlohmann::json& s, const std::string& path) {
  if (!s.is_object()) return "";
  if (s.contains("type")) {
    auto ok_type = [&](const std::string& t) {
      return (t == "object" && v.is_object()) || (t == "array" && v.is_array()) || (t == "string" && v.is_string()) ||
             (t == "number" && v.is_number()) || (t == "integer" && v.is_number_integer()) ||
             (t == "boolean" && v.is_boolean()) || (t == "null" && v.is_null());
    };
    bool ok = false;
    if (s["type"].is_array())
      for (const auto& t : s["type"]) ok |= ok_type(t.get<std::string>());
    else
      ok = ok_type(s["type"].get<std::string>());
    if (!ok) return fmt::format("{}: expected type {}", path, s["type"].dump());
  }
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end())
    return fmt::format("{}: {} is not one of {}", path, v.dump(), s["enum"].dump());
  if (v.is_number()) {
    if (s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) return path + ": below minimum";
    if (s.contains("maximum") && v.get<double>() > s["maximum"].get<double>()) return path + ": above maximum";
  }
  if (v.is_string()) {
    auto n = v.get<std::string>().size();
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return path + ": shorter than minLength";
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return path + ": longer than maxLength";
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const auto& k : s["required"])
        if (!v.contains(k.get<std::string>())) return fmt::format("{}: missing required '{}'", path, k.get<std::string>());
    if (s.contains("properties"))
      for (auto& [k, sub] : s["properties"].items())
        if (v.contains(k))
          if (auto e = validate_json_schema(v[k], sub, path + "." + k); !e.empty()) return e;
    if (s.value("additionalProperties", true) == false && s.contains("properties"))
      for (auto& [k, x] : v.items())
        if (!s["properties"].contains(k)) return fmt::format("{}: unexpected property '{}'", path, k);
  }
  if (v.is_array() && s.contains("items"))
    for (size_t i = 0; i < v.size(); ++i)
      if (auto e = validate_json_schema(v[i], s["items"], fmt::format("{}[{}]", path, i)); !e.empty()) return e;
  return "";
}

AssertionResult check_assertion(const AssertionSpec& a, const AssertionContext& ctx) {
  bool negate = a.type.rfind("not-", 0) == 0;
  std::string type = negate ? a.type.substr(4) : a.type;
  const auto& out = ctx.output;
  const nlohmann::json* vars = ctx.values;
  nlohmann::json from_text;  // callers that have only the text vars
  if (!vars && ctx.vars) {
    from_text = nlohmann::json::object();
    for (const auto& [k, v] : *ctx.vars) from_text[k] = v;
    vars = &from_text;
  }
  AssertionResult r;
  auto boolean = [&](bool ok, std::string why) {
    r.pass = ok;
    r.score = ok ? 1 : 0;
    r.reason = std::move(why);
  };
  auto scored = [&](double score, double threshold, const std::string& what) {
    r.score = score;
    r.pass = score >= threshold;
    r.reason = fmt::format("{} {:.3f} {} threshold {:.3f}", what, score, r.pass ? ">=" : "<", threshold);
  };
  if (type == "equals") {
    auto want = text_of(a.value, vars);
    boolean(out == want, fmt::format("expected exactly {}", nlohmann::json(want).dump()));
  } else if (type == "contains" || type == "icontains") {
    auto want = text_of(a.value, vars);
    bool ok = type == "contains" ? out.find(want) != std::string::npos : contains_caseless(out, want);
    boolean(ok, fmt::format("expected to contain {}", nlohmann::json(want).dump()));
  } else if (type == "contains-any" || type == "contains-all" || type == "icontains-any" || type == "icontains-all") {
    bool ci = type[0] == 'i';
    bool all = type.find("all") != std::string::npos;
    size_t found = 0;
    auto items = list_of(a.value, vars);
    for (const auto& w : items) found += ci ? contains_caseless(out, w) : out.find(w) != std::string::npos;
    boolean(all ? found == items.size() : found > 0,
            fmt::format("expected to contain {} of {}", all ? "all" : "any", nlohmann::json(items).dump()));
  } else if (type == "starts-with") {
    auto want = text_of(a.value, vars);
    boolean(out.rfind(want, 0) == 0, fmt::format("expected to start with {}", nlohmann::json(want).dump()));
  } else if (type == "regex") {
    std::string err;
    auto pattern = text_of(a.value, vars);
    bool ok = regex_search(pattern, out, &err);
    if (!err.empty()) throw usage_error(fmt::format("regex assertion: {}", err));
    boolean(ok, fmt::format("expected to match /{}/", pattern));
  } else if (type == "is-json") {
    try {
      auto j = nlohmann::json::parse(out);
      auto e = a.value.is_object() ? validate_json_schema(j, a.value) : "";
      boolean(e.empty(), e.empty() ? "valid JSON" : "JSON does not match the schema: " + e);
    } catch (const nlohmann::json::exception&) {
      boolean(false, "output is not valid JSON");
    }
  } else if (type == "levenshtein") {
    auto want = text_of(a.value, vars);
    double d = static_cast<double>(levenshtein(out, want));
    double max_d = a.threshold.value_or(5);
    r.pass = d <= max_d;
    r.score = want.empty() && out.empty() ? 1.0 : 1.0 - d / std::max(out.size(), want.size());
    r.reason = fmt::format("edit distance {} {} {}", d, r.pass ? "<=" : ">", max_d);
  } else if (type == "rouge-l" || type == "rouge-n") {
    double best = 0;
    for (const auto& ref : list_of(a.value, vars)) best = std::max(best, type == "rouge-l" ? rouge_l(out, ref) : rouge_n(out, ref, 1));
    scored(best, a.threshold.value_or(0.75), type);
  } else if (type == "bleu") {
    double best = 0;
    for (const auto& ref : list_of(a.value, vars)) best = std::max(best, bleu(out, ref));
    scored(best, a.threshold.value_or(0.5), "bleu");
  } else if (type == "latency") {
    if (!a.threshold) throw usage_error("a latency assertion needs a threshold (milliseconds)");
    r.pass = ctx.latency_ms <= *a.threshold;
    r.score = r.pass ? 1 : 0;
    r.reason = fmt::format("latency {:.0f} ms {} {:.0f} ms", ctx.latency_ms, r.pass ? "<=" : ">", *a.threshold);
  } else if (type == "perplexity") {
    auto ppl = ctx.perplexity ? ctx.perplexity(ctx.prompt, out) : std::nullopt;
    if (!ppl) throw usage_error("perplexity assertions need a local model provider");
    if (!a.threshold) throw usage_error("a perplexity assertion needs a threshold");
    r.pass = *ppl <= *a.threshold;
    r.score = r.pass ? 1 : 0;
    r.reason = fmt::format("perplexity {:.3f} {} {:.3f}", *ppl, r.pass ? "<=" : ">", *a.threshold);
  } else if (type == "javascript" || type == "python") {
    if (!ctx.run_script) throw usage_error(fmt::format("{} assertions are not available here", type));
    nlohmann::json req = {{"output", out},
                          {"context",
                           {{"prompt", ctx.prompt},
                            {"vars", vars ? *vars : nlohmann::json::object()},
                            {"test", {{"vars", vars ? *vars : nlohmann::json::object()}, {"description", ctx.test_description}}},
                            {"config", a.config.is_null() ? nlohmann::json::object() : a.config}}}};
    if (a.value.is_object()) {
      req["file"] = a.value["file"];
      req["function"] = a.value["function"];
    } else {
      req["code"] = text_of(a.value, vars);  // rendered like every assertion value
    }
    try {
      return normalize_script_result(type, ctx.run_script(type, req, a.timeout_ms), a, negate);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Interrupted) throw;
      r.pass = false;
      r.score = 0;
      r.reason = fmt::format("{}: {}", type == "javascript" ? "Custom function threw error" : "Python code execution failed",
                             e.what());
      return r;  // a failing script fails its case; not- does not turn an error into a pass
    }
  } else if (type.rfind("exec:", 0) == 0) {
    r = run_exec_assertion(type.substr(5), ctx, a.timeout_ms);
    if (a.threshold) r.pass = r.score >= *a.threshold;
  } else if (type == "llm-rubric") {
    auto judge = !a.provider.empty() ? a.provider : ctx.default_judge;
    if (judge.empty() || !ctx.ask)
      throw usage_error("llm-rubric needs a judge provider", "set `provider:` on the assertion or defaultTest.options.provider");
    auto rubric = text_of(a.value, vars);
    auto prompt = fmt::format(
        "You are grading an output against a rubric. Reply with only a JSON object "
        "{{\"pass\": true|false, \"score\": 0.0-1.0, \"reason\": \"...\"}}.\n\nRubric: {}\n\nOutput: {}\n",
        rubric, out);
    auto answer = ctx.ask(judge, prompt);
    auto j = find_json(answer);
    if (!j) {
      boolean(false, "the judge did not answer with JSON: " + answer.substr(0, 200));
    } else {
      r.pass = j->value("pass", false);
      r.score = j->value("score", r.pass ? 1.0 : 0.0);
      r.reason = j->value("reason", "");
      if (a.threshold) r.pass = r.score >= *a.threshold;
    }
  } else if (type == "similar") {
    auto provider = !a.provider.empty() ? a.provider : ctx.default_judge;
    if (provider.empty() || !ctx.embed)
      throw usage_error("similar needs an embedding provider", "set `provider:` (a local model or openai:embedding:MODEL)");
    auto mine = ctx.embed(provider, out);
    double best = -1;
    for (const auto& ref : list_of(a.value, vars)) best = std::max(best, cosine(mine, ctx.embed(provider, ref)));
    scored(best, a.threshold.value_or(0.75), "cosine similarity");
  } else if (type == "pairwise") {
    auto judge = !a.provider.empty() ? a.provider : ctx.default_judge;
    if (judge.empty() || a.baseline.empty() || !ctx.ask || !ctx.baseline_output)
      throw usage_error("pairwise needs `baseline:` (a provider) and a judge provider");
    auto base = ctx.baseline_output(a.baseline);
    auto criteria = text_of(a.value, vars);
    auto prompt = fmt::format(
        "Compare two answers to the same prompt{}. Reply with only a JSON object "
        "{{\"winner\": \"A\"|\"B\"|\"tie\", \"reason\": \"...\"}}.\n\nPrompt: {}\n\nAnswer A: {}\n\nAnswer B: {}\n",
        criteria.empty() ? "" : " by this criterion: " + criteria, ctx.prompt, out, base);
    auto j = find_json(ctx.ask(judge, prompt));
    auto winner = j ? j->value("winner", "") : "";
    boolean(winner == "A" || winner == "tie",
            fmt::format("judge preferred {} over baseline {}{}", winner.empty() ? "nothing parseable" : winner,
                        a.baseline, j && j->contains("reason") ? ": " + (*j)["reason"].get<std::string>() : ""));
    r.score = winner == "A" ? 1.0 : winner == "tie" ? 0.5 : 0.0;
  } else {
    throw usage_error(fmt::format("unknown assertion type '{}'", a.type));
  }
  if (negate) {
    r.pass = !r.pass;
    r.score = 1 - r.score;
    r.reason = "not: " + r.reason;
  }
  return r;
}

}  // namespace xops
