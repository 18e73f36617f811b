#include "core/eval/assertions.hpp"
#include "core/eval/assertion_shorthand.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/error.hpp"
#include "core/eval/context_assertions.hpp"
#include "core/eval/json_schema.hpp"
#include "core/eval/pairwise.hpp"
#include "core/eval/script_assertions.hpp"
#include "core/util/regex.hpp"
#include "core/util/strings.hpp"
#include "core/util/subprocess.hpp"
#include "core/util/text_distance.hpp"
#include "core/util/utf8.hpp"

namespace xops {

namespace {

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

// contains-any / contains-all: a list, or one string of comma-separated values (promptfoo).
std::vector<std::string> items_of(const nlohmann::json& v, const nlohmann::json* vars) {
  if (v.is_string()) return split_comma_list(text_of(v, vars));
  return list_of(v, vars);
}

// Case-insensitive containment for all of Unicode (PCRE2's caseless matching in UTF mode, the
// needle as a literal): `icontains: "ÉTÉ"` finds "été", as promptfoo's toLowerCase() does.
bool contains_caseless(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return true;
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(needle.c_str()), needle.size(),
                                 PCRE2_LITERAL | PCRE2_CASELESS | PCRE2_UTF, &err, &off, nullptr);
  if (!re)
    return ascii_lower(hay).find(ascii_lower(needle)) !=
           std::string::npos;  // not UTF-8: bytes, ASCII folding
  auto* md = pcre2_match_data_create_from_pattern(re, nullptr);
  int rc =
      pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(hay.c_str()), hay.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  if (rc < PCRE2_ERROR_NOMATCH)
    return ascii_lower(hay).find(ascii_lower(needle)) != std::string::npos;
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

AssertionResult run_exec_assertion(const std::string& cmd, const AssertionContext& ctx,
                                   int timeout_ms) {
  // promptfoo's contract: the script gets the output (and a context JSON) as arguments and
  // prints true/false, a score, or {"pass", "score", "reason"}.
  nlohmann::json context = {{"prompt", ctx.prompt},
                            {"vars", ctx.vars ? *ctx.vars : std::map<std::string, std::string>{}}};
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
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

}  // namespace

namespace {

using nlohmann::json;

// What a check sees: the assertion, the context, the type without not-, and the vars that
// render its value.
struct Check {
  const AssertionSpec& a;
  const AssertionContext& ctx;
  const std::string& type;
  const json* vars;
  bool negate;
  const std::string& out() const { return ctx.output; }
  // The vars that render the value; none for a literal value (data, not a template).
  const json* template_vars() const { return a.literal ? nullptr : vars; }
  std::string value_text() const { return text_of(a.value, template_vars()); }
};

AssertionResult boolean(bool ok, std::string why) {
  return {ok, ok ? 1.0 : 0.0, std::move(why)};
}

AssertionResult scored(double score, double threshold, const std::string& what) {
  bool pass = score >= threshold;
  return {pass, score,
          fmt::format("{} {:.3f} {} threshold {:.3f}", what, score, pass ? ">=" : "<", threshold)};
}

// promptfoo: text assertions take a string or a number; anything else fails the case.
void require_scalar(const Check& c, bool allow_null) {
  if ((!allow_null && c.a.value.is_null()) || c.a.value.is_boolean() || c.a.value.is_structured())
    throw runtime_error(
        fmt::format("\"{}\" assertion type must have a string or number value", c.type));
}

AssertionResult check_equals(const Check& c) {
  if (c.a.value.is_structured()) {  // an object or list: the output, parsed, must equal it
    bool ok = false;
    try {
      ok = json::parse(c.out()) == c.a.value;
    } catch (const json::exception&) {
    }
    return boolean(ok, fmt::format("expected JSON equal to {}", c.a.value.dump()));
  }
  auto want = c.value_text();
  return boolean(c.out() == want, fmt::format("expected exactly {}", json(want).dump()));
}

AssertionResult check_contains(const Check& c) {
  require_scalar(c, false);
  auto want = c.value_text();
  bool ok = c.type == "contains" ? c.out().find(want) != std::string::npos
                                 : contains_caseless(c.out(), want);
  return boolean(ok, fmt::format("expected to contain {}", json(want).dump()));
}

AssertionResult check_contains_set(const Check& c) {  // [i]contains-any / [i]contains-all
  bool ci = c.type[0] == 'i';
  bool all = c.type.find("all") != std::string::npos;
  size_t found = 0;
  auto items = items_of(c.a.value, c.template_vars());
  for (const auto& w : items)
    found += ci ? contains_caseless(c.out(), w) : c.out().find(w) != std::string::npos;
  return boolean(
      all ? found == items.size() : found > 0,
      fmt::format("expected to contain {} of {}", all ? "all" : "any", json(items).dump()));
}

AssertionResult check_starts_with(const Check& c) {
  require_scalar(c, false);
  auto want = c.value_text();
  return boolean(c.out().rfind(want, 0) == 0,
                 fmt::format("expected to start with {}", json(want).dump()));
}

AssertionResult check_regex(const Check& c) {
  require_scalar(c, true);
  std::string err;
  auto pattern = c.value_text();
  bool ok = regex_search(pattern, c.out(), &err);
  if (!err.empty()) throw usage_error(fmt::format("regex assertion: {}", err));
  return boolean(ok, fmt::format("expected to match /{}/", pattern));
}

AssertionResult check_is_json(const Check& c) {
  json j;
  try {
    j = json::parse(c.out());
  } catch (const json::exception&) {
    return boolean(false, "output is not valid JSON");
  }
  auto e = c.a.value.is_object() ? validate_json_schema(j, c.a.value) : "";
  return boolean(e.empty(), e.empty() ? "valid JSON" : "JSON does not conform to the schema: " + e);
}

AssertionResult check_contains_json(const Check& c) {
  std::string why = "no JSON object in the output";
  for (const auto& j : extract_json_objects(c.out())) {
    auto e = c.a.value.is_object() ? validate_json_schema(j, c.a.value) : "";
    if (e.empty()) return boolean(true, "contains valid JSON");
    why = "JSON does not conform to the schema: " + e;
  }
  return boolean(false, why);
}

AssertionResult check_levenshtein(const Check& c) {
  double d = static_cast<double>(levenshtein(c.out(), c.value_text()));
  double max_d = c.a.threshold.value_or(5);
  return boolean(d <= max_d,
                 fmt::format("edit distance {} {} {}", d, d <= max_d ? "<=" : ">", max_d));
}

AssertionResult check_rouge(const Check& c) {
  double best = 0;
  for (const auto& ref : list_of(c.a.value, c.template_vars()))
    best = std::max(best, c.type == "rouge-l" ? rouge_l(c.out(), ref) : rouge_n(c.out(), ref, 1));
  return scored(best, c.a.threshold.value_or(0.75), c.type);
}

AssertionResult check_bleu(const Check& c) {
  return scored(bleu(c.out(), list_of(c.a.value, c.template_vars())), c.a.threshold.value_or(0.5),
                "bleu");
}

AssertionResult check_latency(const Check& c) {
  if (!c.a.threshold) throw usage_error("a latency assertion needs a threshold (milliseconds)");
  bool ok = c.ctx.latency_ms <= *c.a.threshold;
  return boolean(ok, fmt::format("latency {:.0f} ms {} {:.0f} ms", c.ctx.latency_ms,
                                 ok ? "<=" : ">", *c.a.threshold));
}

AssertionResult check_perplexity(const Check& c) {
  auto ppl = c.ctx.perplexity ? c.ctx.perplexity(c.ctx.prompt, c.out()) : std::nullopt;
  if (!ppl) throw usage_error("perplexity assertions need a local model provider");
  if (!c.a.threshold) throw usage_error("a perplexity assertion needs a threshold");
  bool ok = *ppl <= *c.a.threshold;
  return boolean(ok,
                 fmt::format("perplexity {:.3f} {} {:.3f}", *ppl, ok ? "<=" : ">", *c.a.threshold));
}

// javascript / python: promptfoo's contract; the script's result applies not- itself.
AssertionResult check_script(const Check& c) {
  if (!c.ctx.run_script)
    throw usage_error(fmt::format("{} assertions are not available here", c.type));
  json vars = c.vars ? *c.vars : json::object();
  json req = {{"output", c.ctx.output_value ? *c.ctx.output_value : json(c.out())},
              {"context",
               {{"prompt", c.ctx.prompt},
                {"vars", vars},
                {"test", {{"vars", vars}, {"description", c.ctx.test_description}}},
                {"config", c.a.config.is_null() ? json::object() : c.a.config}}}};
  if (c.a.value.is_object()) {
    req["file"] = c.a.value["file"];
    req["function"] = c.a.value["function"];
  } else {
    req["code"] = c.value_text();  // rendered like every assertion value
  }
  try {
    return normalize_script_result(c.type, c.ctx.run_script(c.type, req, c.a.timeout_ms), c.a,
                                   c.negate);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Interrupted) throw;
    // A failing script fails its case; not- does not turn an error into a pass.
    return {false, 0,
            fmt::format("{}: {}",
                        c.type == "javascript" ? "Custom function threw error"
                                               : "Python code execution failed",
                        e.what())};
  }
}

AssertionResult check_llm_rubric(const Check& c) {
  auto judge = !c.a.provider.empty() ? c.a.provider : c.ctx.default_judge;
  if (judge.empty() || !c.ctx.ask)
    // This case errors, the rest run (as promptfoo, whose default grader then fails per case).
    throw runtime_error("llm-rubric needs a judge provider (none given)",
                        "set `provider:` on the assertion or defaultTest.options.provider, or "
                        "--judge");
  auto prompt = fmt::format(
      "You are grading an output against a rubric. Reply with only a JSON object "
      "{{\"pass\": true|false, \"score\": 0.0-1.0, \"reason\": \"...\"}}.\n\nRubric: "
      "{}\n\nOutput: {}\n",
      c.value_text(), c.out());
  auto answer = c.ctx.ask(judge, prompt);
  auto j = find_json(answer);
  if (!j) return boolean(false, "the judge did not answer with JSON: " + answer.substr(0, 200));
  AssertionResult r;
  r.pass = j->value("pass", false);
  r.score = j->value("score", r.pass ? 1.0 : 0.0);
  r.reason = j->value("reason", "");
  if (c.a.threshold) r.pass = r.score >= *c.a.threshold;
  return r;
}

// promptfoo's RAG assertions (context_assertions.cpp): threshold 0 unless given.
AssertionResult check_context(const Check& c) {
  double threshold = c.a.threshold.value_or(0.0);
  if (c.type == "context-recall") {
    if (!c.a.value.is_string())
      throw runtime_error(
          "context-recall needs a string value: the expected answer or fact to verify");
    return check_context_recall(c.ctx, c.a.provider, c.value_text(), threshold);
  }
  if (c.type == "context-relevance") return check_context_relevance(c.ctx, c.a.provider, threshold);
  return check_context_faithfulness(c.ctx, c.a.provider, threshold);
}

// A complaint from the logs (xops eval --from-logs --max-score): does the new answer take
// the user's comment on the old one into account? The judge sees the prompt, the old answer,
// the comment and the new answer.
AssertionResult check_feedback_addressed(const Check& c) {
  auto judge = !c.a.provider.empty() ? c.a.provider : c.ctx.default_judge;
  if (judge.empty() || !c.ctx.ask)
    throw runtime_error("feedback-addressed needs a judge provider (none given)",
                        "set `provider:` on the assertion or defaultTest.options.provider, or "
                        "--judge");
  auto field = [&](const char* k) {
    return c.a.value.contains(k) ? text_of(c.a.value[k], c.template_vars()) : std::string();
  };
  auto comment = field("comment"), previous = field("previous");
  auto prompt = fmt::format(
      "A user was unhappy with an earlier answer to this prompt and said why. Decide whether the "
      "new answer takes the user's comment into account (fixes what they complained about). "
      "Reply with only a JSON object {{\"pass\": true|false, \"score\": 0.0-1.0, \"reason\": "
      "\"...\"}}.\n\nPrompt: {}\n\nEarlier answer: {}\n\nUser's comment: {}\n\nNew answer: {}\n",
      c.ctx.prompt, previous, comment, c.out());
  auto answer = c.ctx.ask(judge, prompt);
  auto j = find_json(answer);
  if (!j || !j->contains("pass") || !(*j)["pass"].is_boolean())
    throw runtime_error(fmt::format("the judge {} did not answer {{\"pass\": true|false, ...}}: {}",
                                    judge, answer.substr(0, 200)),
                        "a judge that cannot be read is not a verdict either way");
  AssertionResult r;
  r.pass = (*j)["pass"].get<bool>();
  r.score = j->value("score", r.pass ? 1.0 : 0.0);
  r.reason = j->value("reason", "");
  if (c.a.threshold) r.pass = r.score >= *c.a.threshold;
  r.detail = {{"comment", comment}, {"previous_output", previous}};
  return r;
}

AssertionResult check_similar(const Check& c) {
  auto provider = !c.a.provider.empty()              ? c.a.provider
                  : !c.ctx.default_embedding.empty() ? c.ctx.default_embedding
                                                     : c.ctx.default_judge;
  if (provider.empty() || !c.ctx.embed)
    throw runtime_error("similar needs an embedding provider (none given)",
                        "set `provider:` (a local model or openai:embedding:MODEL), or "
                        "--embedding");
  auto mine = c.ctx.embed(provider, c.out());
  double best = -1;
  for (const auto& ref : list_of(c.a.value, c.template_vars()))
    best = std::max(best, cosine(mine, c.ctx.embed(provider, ref)));
  return scored(best, c.a.threshold.value_or(0.75), "cosine similarity");
}

// Judged in both orders (core/eval/pairwise.hpp): a win or a loss only when both agree.
AssertionResult check_pairwise(const Check& c) {
  auto judge = !c.a.provider.empty() ? c.a.provider : c.ctx.default_judge;
  if (judge.empty() || c.a.baseline.empty() || !c.ctx.ask || !c.ctx.baseline_output)
    throw usage_error("pairwise needs `baseline:` (a provider) and a judge provider");
  if (c.a.baseline == c.ctx.provider_id || c.a.baseline == c.ctx.provider_label) {
    AssertionResult r;
    r.skipped = true;
    r.pass = true;
    r.reason = fmt::format("skipped: {} is the baseline itself", c.a.baseline);
    return r;
  }
  auto base = c.ctx.baseline_output(c.a.baseline);
  auto criteria = c.value_text();
  auto first = parse_pair_verdict(
      c.ctx.ask(judge, pairwise_prompt(criteria, c.ctx.prompt, c.out(), base)), judge);
  auto second = parse_pair_verdict(
      c.ctx.ask(judge, pairwise_prompt(criteria, c.ctx.prompt, base, c.out())), judge);
  int outcome = pair_outcome(first, second);
  const char* said = outcome > 0 ? "win" : outcome < 0 ? "loss" : "tie";
  AssertionResult r;
  r.score = outcome > 0 ? 1.0 : outcome < 0 ? 0.0 : 0.5;
  r.pass = c.a.threshold ? r.score >= *c.a.threshold : outcome >= 0;
  r.reason = fmt::format("{} against {} (candidate as A: {}{}; as B: {}{})", said, c.a.baseline,
                         first.winner, first.reason.empty() ? "" : " - " + first.reason,
                         second.winner, second.reason.empty() ? "" : " - " + second.reason);
  r.detail = {{"baseline", c.a.baseline},
              {"baseline_output", base},
              {"outcome", said},
              {"candidate_chars", code_points(c.out())},
              {"baseline_chars", code_points(base)},
              {"verdicts",
               {{{"candidate", "A"}, {"winner", first.winner}, {"reason", first.reason}},
                {{"candidate", "B"}, {"winner", second.winner}, {"reason", second.reason}}}}};
  return r;
}

AssertionResult check_exec(const Check& c) {
  auto r = run_exec_assertion(c.type.substr(5), c.ctx, c.a.timeout_ms);
  if (c.a.threshold) r.pass = r.score >= *c.a.threshold;
  return r;
}

// select-best / max-score compare a test's outputs after all have arrived
// (core/eval/comparisons.hpp): the runner never checks them one case at a time.
AssertionResult check_comparison(const Check& c) {
  throw usage_error(fmt::format("{} compares a test's outputs; it has no per-case check", c.type));
}

struct AssertionType {
  const char* name;
  AssertionResult (*check)(const Check&);
  bool negates_itself = false;  // applies not- itself (scripts: an error never passes)
};

// Every assertion type xops runs (each also with not-); `exec:CMD` is matched by prefix. The
// suite loader accepts exactly these (known_assertion_type) and names them in its hint.
const AssertionType kAssertionTypes[] = {
    {"equals", check_equals},
    {"contains", check_contains},
    {"icontains", check_contains},
    {"contains-any", check_contains_set},
    {"contains-all", check_contains_set},
    {"icontains-any", check_contains_set},
    {"icontains-all", check_contains_set},
    {"starts-with", check_starts_with},
    {"regex", check_regex},
    {"is-json", check_is_json},
    {"contains-json", check_contains_json},
    {"levenshtein", check_levenshtein},
    {"rouge-l", check_rouge},
    {"rouge-n", check_rouge},
    {"bleu", check_bleu},
    {"perplexity", check_perplexity},
    {"latency", check_latency},
    {"llm-rubric", check_llm_rubric},
    {"similar", check_similar},
    {"pairwise", check_pairwise},
    {"feedback-addressed", check_feedback_addressed},
    {"context-recall", check_context},
    {"context-relevance", check_context},
    {"context-faithfulness", check_context},
    {"javascript", check_script, true},
    {"python", check_script, true},
    {"select-best", check_comparison},
    {"max-score", check_comparison},
};
const AssertionType kExec = {"exec:", check_exec};

const AssertionType* find_type(const std::string& base) {
  if (base.rfind("exec:", 0) == 0) return &kExec;
  for (const auto& t : kAssertionTypes)
    if (base == t.name) return &t;
  return nullptr;
}

}  // namespace

std::vector<std::string> assertion_type_names() {
  std::vector<std::string> names;
  for (const auto& t : kAssertionTypes) names.push_back(t.name);
  names.push_back("exec:CMD");
  return names;
}

bool known_assertion_type(const std::string& base) {
  return find_type(base) != nullptr;
}

AssertionResult check_assertion(const AssertionSpec& a, const AssertionContext& ctx) {
  bool negate = a.type.rfind("not-", 0) == 0;
  std::string type = negate ? a.type.substr(4) : a.type;
  const auto* t = find_type(type);
  if (!t) throw usage_error(fmt::format("unknown assertion type '{}'", a.type));
  const json* vars = ctx.values;
  json from_text;  // callers that have only the text vars
  if (!vars && ctx.vars) {
    from_text = json::object();
    for (const auto& [k, v] : *ctx.vars) from_text[k] = v;
    vars = &from_text;
  }
  auto r = t->check(Check{a, ctx, type, vars, negate});
  if (negate && !t->negates_itself) {
    r.pass = !r.pass;
    r.score = 1 - r.score;
    r.reason = "not: " + r.reason;
  }
  return r;
}

}  // namespace xops
