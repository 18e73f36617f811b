#include "core/eval/runner.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <tuple>

#include "core/db/database.hpp"
#include "core/error.hpp"
#include "core/eval/case_scoring.hpp"
#include "core/eval/comparisons.hpp"
#include "core/eval/metric_expression.hpp"
#include "core/eval/providers.hpp"
#include "core/eval/script_assertions.hpp"
#include "core/store/sha256.hpp"
#include "core/tracking/ulid.hpp"
#include "core/util/parallel.hpp"

namespace xops {

namespace {

// The provider-call cache (SQLite; shared by concurrent workers under a mutex).
class CallCache {
 public:
  explicit CallCache(db::Database* db) : db_(db) {}
  std::optional<std::pair<std::string, double>> get(const std::string& key) {
    if (!db_) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    auto st = db_->prepare("SELECT output, latency_ms FROM eval_cache WHERE key = ?");
    st.bind(1, key);
    if (!st.step()) return std::nullopt;
    return std::make_pair(st.text(0), st.real(1));
  }
  void put(const std::string& key, const std::string& output, double latency) {
    if (!db_) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto st = db_->prepare(
        "INSERT INTO eval_cache(key, output, latency_ms, created_ms) VALUES (?,?,?,?) ON CONFLICT "
        "(key) DO UPDATE "
        "SET output = excluded.output, latency_ms = excluded.latency_ms, created_ms = "
        "excluded.created_ms");
    st.bind(1, key).bind(2, output).bind(3, latency).bind(4, now_ms()).step();
  }

 private:
  db::Database* db_;
  std::mutex mu_;
};

// promptfoo's providers[].prompts: a provider runs only the prompts it lists.
std::vector<std::pair<size_t, size_t>> prompt_provider_pairs(const Suite& suite) {
  std::vector<std::pair<size_t, size_t>> pairs;  // (prompt, provider), in prompt-major order
  for (size_t pi = 0; pi < suite.prompts.size(); ++pi)
    for (size_t v = 0; v < suite.providers.size(); ++v) {
      bool runs = suite.providers[v].prompts.empty();
      for (const auto& want : suite.providers[v].prompts)
        runs |= prompt_matches(suite.prompts[pi], want);
      if (runs) pairs.emplace_back(pi, v);
    }
  return pairs;
}

}  // namespace

size_t count_cases(const Suite& suite, int repeat) {
  return suite.tests.size() * prompt_provider_pairs(suite).size() *
         static_cast<size_t>(std::max(1, repeat));
}

namespace {

using nlohmann::json;

// A value's text, as text assertions see it: a string as is, null as "", else its JSON.
std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
}

// One run of a suite: its providers (and the judges, baselines and embedders assertions name),
// the call cache, the script workers, and the summary the cases add to.
class SuiteRun {
 public:
  SuiteRun(const Suite& suite, const Workspace* ws, db::Database* db, const EvalOptions& opts,
           const std::function<void(const CaseResult&)>& sink)
      : suite_(suite),
        ws_(ws),
        opts_(opts),
        sink_(sink),
        dir_(std::filesystem::absolute(suite.file).parent_path()),
        cache_(opts.use_cache && opts.repeat <= 1 ? db : nullptr),
        pairs_(prompt_provider_pairs(suite)),
        R_(static_cast<size_t>(std::max(1, opts.repeat))) {
    for (const auto& p : suite.providers) {
      providers_.push_back(make_provider(p, ws, dir_, opts.key_hosts));
      sum_.providers.push_back({p.label});
    }
    for (auto& p : providers_) identities_.push_back(p->identity());
    sum_.baseline = suite.baseline;
    for (const auto& t : suite.tests) {
      bool compares = false;
      for (const auto& a : t.asserts) compares |= is_comparison_assertion(a.type);
      if (compares && pairs_.size() < 2)
        throw usage_error(
            fmt::format("{}: select-best and max-score compare a test's outputs, and this suite "
                        "gives each test one (one prompt, one provider)",
                        suite.file.string()),
            "add a prompt or a provider to compare");
      comparing_.push_back(compares);
      bool retrieves = false;
      for (auto& [k, v] : t.values.items()) retrieves |= retrieval_spec(v, "var " + k).has_value();
      if (retrieves && !opts.retrieve)
        throw usage_error(
            fmt::format("{}: a test retrieves from an index, and nothing here can search one",
                        suite.file.string()),
            "run it with xops eval");
      retrieving_.push_back(retrieves);
    }
    ask_judge_ = [this](const std::string& judge, const std::string& prompt) {
      auto& p = named(judge);
      auto r = cached_call(p, p.identity(), prompt, json::object(), nullptr);
      if (!r.error.empty()) throw runtime_error(fmt::format("judge {}: {}", judge, r.error));
      return r.output;
    };
  }

  EvalSummary run() {
    auto t0 = std::chrono::steady_clock::now();
    // Local models run one call at a time anyway; everything else runs `jobs` wide.
    parallel_for(suite_.tests.size() * pairs_.size() * R_, std::max(1, opts_.jobs),
                 [&](size_t k) { record(k, run_case(k)); });
    finish();
    sum_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::move(sum_);
  }

 private:
  // A provider by id or label: the suite's own, else one made on first use.
  Provider& named(const std::string& id) {
    for (size_t i = 0; i < suite_.providers.size(); ++i)
      if (suite_.providers[i].id == id || suite_.providers[i].label == id) return *providers_[i];
    std::lock_guard<std::mutex> lock(extra_mu_);
    auto& p = extra_[id];
    if (!p) {  // a judge given as an object is made with its whole config, never just its id
      auto named = suite_.named_providers.find(id);
      p = make_provider(named != suite_.named_providers.end()
                            ? named->second
                            : ProviderSpec{id, id, json::object(), {}},
                        ws_, dir_, opts_.key_hosts);
    }
    return *p;
  }

  // A pairwise baseline for candidate provider v. One the suite configures (a provider of the
  // suite, or given as {id, config}) runs as configured; a bare id (NAME#prod, a model path)
  // runs with the candidate's config, so both answer under the same max_tokens, stop and
  // sampling.
  Provider& baseline_provider(const std::string& id, size_t v) {
    for (const auto& p : suite_.providers)
      if (p.id == id || p.label == id) return named(id);
    if (suite_.named_providers.count(id)) return named(id);
    std::lock_guard<std::mutex> lock(extra_mu_);
    auto& p = extra_[id + "\x1f" + std::to_string(v)];
    if (!p)
      p = make_provider(
          ProviderSpec{
              id, id, baseline_config(suite_.providers[v].id, suite_.providers[v].config, id), {}},
          ws_, dir_, opts_.key_hosts);
    return *p;
  }

  // An empty identity means the provider's answers cannot be keyed safely: never cached.
  // Providers that receive the vars (exec:) are keyed by them too.
  ProviderCall cached_call(Provider& p, const std::string& identity, const std::string& prompt,
                           const json& context, bool* hit) {
    if (identity.empty()) return p.call_in(prompt, context);
    // A prompt's own config (response_format, ...) changes the answer too.
    auto prompt_config = context.contains("prompt")
                             ? context["prompt"].value("config", json::object())
                             : json::object();
    auto key =
        sha256_hex(identity + "\x1f" + prompt +
                   (p.uses_context() ? "\x1f" + context.value("vars", json::object()).dump() : "") +
                   (prompt_config.empty() ? "" : "\x1f" + prompt_config.dump()));
    if (auto c = cache_.get(key)) {
      if (hit) *hit = true;
      return ProviderCall{c->first, c->second, ""};
    }
    auto r = p.call_in(prompt, context);
    if (r.error.empty()) cache_.put(key, r.output, r.latency_ms);
    return r;
  }

  // A JavaScript transform (code, or {"file", "function"}) of an output value.
  json run_transform(const json& transform, const json& output, const json& context) {
    json req = {{"output", output}, {"context", context}};
    if (transform.is_object()) {
      req["file"] = transform["file"];
      req["function"] = transform["function"];
    } else {
      req["code"] = transform.get<std::string>();
    }
    return scripts_.call(
        transform.is_object() ? transform.value("language", "javascript") : "javascript", req,
        60000);
  }

  // Case k: test-major, then (prompt, provider) pair, then repeat.
  CaseResult run_case(size_t k) {
    size_t rep = k % R_, pv = (k / R_) % pairs_.size(), ti = k / R_ / pairs_.size();
    size_t pi = pairs_[pv].first, v = pairs_[pv].second;
    const auto& prompt = suite_.prompts[pi];
    CaseResult c;
    // Retrieval vars become the text of the chunks found for this case's query.
    std::optional<TestSpec> resolved;
    std::map<std::string, double> retrieval_scores;
    if (retrieving_[ti]) {
      resolved = suite_.tests[ti];
      try {
        retrieve_into(*resolved, c.retrieval, retrieval_scores);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Usage || e.kind() == ErrorKind::Precondition ||
            e.kind() == ErrorKind::Interrupted)
          throw;
        c.error = fmt::format("retrieval failed: {}", e.what());
      }
    }
    const auto& test = resolved ? *resolved : suite_.tests[ti];
    c.index = ti, c.prompt = pi, c.provider = v, c.repeat = static_cast<int>(rep);
    c.test_description = test.description;
    c.prompt_label = prompt.label;
    c.provider_label = suite_.providers[v].label;
    c.vars = test.vars;
    c.rendered_prompt = test.prefix + render_prompt(prompt, test.values) + test.suffix;
    json test_json = {{"vars", test.values}, {"description", test.description}};
    if (!test.metadata.empty()) test_json["metadata"] = test.metadata;
    json call_context = {
        {"vars", test.values},
        {"prompt", {{"raw", prompt.text}, {"label", prompt.label}, {"config", prompt.config}}},
        {"test", test_json}};
    if (!c.error.empty()) return c;
    auto call =
        cached_call(*providers_[v], identities_[v], c.rendered_prompt, call_context, &c.cached);
    c.output = call.output;
    c.latency_ms = call.latency_ms;
    c.error = call.error;
    // A transform may turn the output into a value (JSON.parse(output)): scripts then see the
    // value, text assertions its JSON text, as in promptfoo.
    json value = c.output;
    json script_context = {
        {"vars", test.values}, {"prompt", c.rendered_prompt}, {"test", test_json}};
    if (c.error.empty() && !test.transform.is_null()) {
      try {
        value = run_transform(test.transform, value, script_context);
        if (value.is_discarded()) value = nullptr;
        c.output = text_of(value);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Interrupted) throw;
        c.error = fmt::format("transform failed: {}", e.what());
      }
    }
    if (c.error.empty()) score(c, test, value, call_context, script_context);
    if (c.error.empty())
      for (const auto& [name, x] : retrieval_scores) c.named_scores[name] = x;
    return c;
  }

  // Each {retrieve: ...} var of the test: its query rendered with the other vars, the index
  // searched, the var set to the chunks' text; with relevant labels, the retrieval metrics.
  void retrieve_into(TestSpec& t, json& log, std::map<std::string, double>& scores) {
    log = json::array();
    json others = json::object();
    for (auto& [k, v] : t.values.items())
      if (!retrieval_spec(v, "var " + k)) others[k] = v;
    for (auto& [k, v] : t.values.items()) {
      auto spec = retrieval_spec(v, "var " + k);
      if (!spec) continue;
      auto query = render_template(spec->query, others, "var " + k + " query");
      auto got = retrieve_var(k, *spec, query, opts_.retrieve);
      log.push_back(std::move(got.log));
      for (const auto& [name, x] : got.scores) scores[name] = x;
      v = got.text;
      t.vars[k] = got.text;
    }
  }

  // What an assertion may use: the output, the test, scripts, judges, embedders, a baseline.
  AssertionContext assertion_context(const CaseResult& c, const TestSpec& test, const json& value,
                                     const json& call_context) {
    AssertionContext ctx;
    ctx.output = c.output;
    if (!value.is_string()) ctx.output_value = &value;
    ctx.prompt = c.rendered_prompt;
    ctx.latency_ms = c.latency_ms;
    ctx.vars = &test.vars;
    ctx.values = &test.values;
    ctx.test_description = test.description;
    ctx.provider_id = suite_.providers[c.provider].id;
    ctx.provider_label = suite_.providers[c.provider].label;
    ctx.run_script = [this](const std::string& lang, const json& req, int timeout_ms) {
      return scripts_.call(lang, req, timeout_ms);
    };
    ctx.default_judge = suite_.judge;
    ctx.default_embedding = suite_.embedding;
    ctx.ask = ask_judge_;
    ctx.embed = [this](const std::string& provider, const std::string& text) {
      return named(provider).embed(text);
    };
    Provider* own = providers_[c.provider].get();
    ctx.perplexity = [own](const std::string& prompt, const std::string& output) {
      return own->perplexity(prompt, output);
    };
    ctx.baseline_output = [this, prompt = c.rendered_prompt, call_context,
                           v = c.provider](const std::string& baseline) {
      auto& p = baseline_provider(baseline, v);
      auto r = cached_call(p, p.identity(), prompt, call_context, nullptr);
      if (!r.error.empty()) throw runtime_error(fmt::format("baseline {}: {}", baseline, r.error));
      return r.output;
    };
    return ctx;
  }

  // One assertion; its own transform (if any) sees the (test-transformed) output.
  AssertionResult check(const AssertionSpec& a, const AssertionContext& ctx, const json& value,
                        const json& script_context) {
    if (a.transform.is_null()) return check_assertion(a, ctx);
    AssertionContext actx = ctx;
    json avalue;
    try {
      avalue = run_transform(a.transform, value, script_context);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Interrupted) throw;
      throw runtime_error(fmt::format("assertion transform failed: {}", e.what()));
    }
    if (avalue.is_discarded()) avalue = nullptr;
    actx.output = text_of(avalue);
    actx.output_value = avalue.is_string() ? nullptr : &avalue;
    return check_assertion(a, actx);
  }

  // The case's assertions: pass, weighted score, the test's threshold.
  void score(CaseResult& c, const TestSpec& test, const json& value, const json& call_context,
             const json& script_context) {
    auto ctx = assertion_context(c, test, value, call_context);
    double wsum = 0, ssum = 0;
    c.pass = true;
    for (const auto& a : test.asserts) {
      if (is_comparison_assertion(a.type)) continue;  // once the test's outputs are all in
      AssertionResult ar;
      try {
        ar = check(a, ctx, value, script_context);
      } catch (const Error& e) {
        // A broken suite stops the run, and so does Ctrl-C (not a failed case).
        if (e.kind() == ErrorKind::Usage || e.kind() == ErrorKind::Interrupted) throw;
        c.error = e.what();
        c.pass = false;
        break;
      }
      if (ar.skipped) {  // listed, never counted
        c.asserts.emplace_back(a, ar);
        continue;
      }
      if (a.weight > 0) c.pass &= ar.pass;  // weight 0: a metric only, as in promptfoo
      wsum += a.weight;
      ssum += a.weight * ar.score;
      c.asserts.emplace_back(a, ar);
    }
    // No weight to divide by: 1 for a test without assertions (promptfoo's noAssertsResult),
    // 0 when its assertions carry none (weight 0, or only select-best / max-score).
    bool weighed_any = false;
    for (const auto& [a, ar] : c.asserts) weighed_any |= !ar.skipped;
    for (const auto& a : test.asserts) weighed_any |= is_comparison_assertion(a.type);
    c.score = wsum > 0 ? ssum / wsum : weighed_any ? 0 : (c.pass ? 1 : 0);
    if (test.threshold && c.error.empty())
      c.pass = c.score + 1e-12 >= *test.threshold;      // promptfoo's test threshold
    if (!c.error.empty()) c.pass = false, c.score = 0;  // an errored case scores 0, as promptfoo
    if (c.error.empty()) c.named_scores = named_scores_of(c.asserts);  // none for an error
    // The function decides a graded case; one without assertions never calls it (promptfoo).
    if (!test.scoring_function.is_null() && c.error.empty() && !c.asserts.empty()) {
      auto v = run_scoring_function(test, c.asserts, c.named_scores, scripts_);
      c.pass = v.result.pass;
      c.score = v.result.score;
      if (v.named_scores_given) c.named_scores = std::move(v.named_scores);
      AssertionSpec shown;  // first, so reports give its reason for the verdict
      shown.type = "assertScoringFunction";
      shown.value = test.scoring_function["ref"];
      shown.weight = 0;
      c.asserts.insert(c.asserts.begin(), {std::move(shown), std::move(v.result)});
    }
  }

  // Into the summary; then to the sink in suite order whatever -j is (reports are
  // deterministic): a case that finishes early waits for the ones before it. Cases start in
  // order, so about `jobs` results at most wait beyond one slow case.
  void record(size_t k, CaseResult c) {
    std::lock_guard<std::mutex> lock(sum_mu_);
    pending_.emplace(k, std::move(c));
    const size_t per_test = pairs_.size() * R_;
    while (pending_.count(next_emit_)) {
      size_t ti = next_emit_ / per_test, first = ti * per_test, last = first + per_test;
      if (!comparing_[ti]) {
        emit(next_emit_++);
        continue;
      }
      // select-best / max-score: the whole test (every prompt x provider) first.
      for (size_t j = first; j < last; ++j)
        if (!pending_.count(j)) return;
      for (size_t rep = 0; rep < R_; ++rep) {
        std::vector<CaseResult*> group;
        for (size_t pv = 0; pv < pairs_.size(); ++pv)
          group.push_back(&pending_[first + pv * R_ + rep]);
        apply_comparisons(suite_.tests[ti], group, suite_.judge, ask_judge_);
      }
      for (size_t j = first; j < last; ++j) emit(j);
      next_emit_ = last;
    }
  }

  // A finished case into the summary, then to the sink (in suite order, whatever -j is).
  void emit(size_t k) {
    auto it = pending_.find(k);
    auto& c = it->second;
    size_t pi = c.prompt, v = c.provider;
    ++sum_.cases;
    auto& ps = sum_.providers[v];
    ++ps.cases;
    ps.latency_ms_total += c.latency_ms;
    if (!c.error.empty())
      ++sum_.errors, ++ps.errors;
    else if (c.pass)
      ++sum_.passed, ++ps.passed;
    else
      ++sum_.failed, ++ps.failed;
    if (c.cached) ++sum_.cached;
    ++pair_counts_[{pi, v}];
    for (const auto& [a, ar] : c.asserts)
      if (a.type == "pairwise" && !ar.skipped && ar.detail.is_object() && c.error.empty()) {
        const auto& detail = ar.detail;  // a structured binding is not capturable (C++17)
        auto outcome = detail.value("outcome", "");
        auto count = [&](PairwiseStats& st) {
          (outcome == "win" ? st.wins : outcome == "loss" ? st.losses : st.ties)++;
          st.candidate_chars += detail.value("candidate_chars", 0.0);
          st.baseline_chars += detail.value("baseline_chars", 0.0);
        };
        count(pairwise_[{v, a.baseline}]);
        auto& groups = pairwise_groups_[{v, a.baseline}];
        auto group = [&](const std::string& name) {  // bounded: metadata is the suite's
          if (groups.size() < 64 || groups.count(name)) count(groups[name]);
        };
        if (!a.metric.empty()) group("metric:" + a.metric);
        for (const auto& [k, val] : suite_.tests[c.index].metadata) group(k + "=" + val);
      }
    // promptfoo sums each case's named scores (a metric named twice in a test counts once).
    for (const auto& [name, value] : c.named_scores) {
      auto& m = sum_.metrics[name];
      m.first += value;
      ++m.second;
      named_sums_[{pi, v}][name] += value;
    }
    if (R_ > 1) {
      auto& o = outcomes_[fmt::format("{}/{}/{}", c.index, pi, v)];
      (c.pass ? o.first : o.second)++;
    }
    if (!suite_.baseline.empty())
      verdicts_[{c.index, pi, static_cast<size_t>(c.repeat), v}] = !c.error.empty() ? 2
                                                                   : c.pass         ? 0
                                                                                    : 1;
    sink_(c);
    pending_.erase(it);
  }

  // promptfoo's derivedMetrics: per prompt and provider, over the sums of the named scores
  // (and __count, the cases run), in the order given (a derived metric may use earlier ones).
  void derive_metrics() {
    for (const auto& [pv, count] : pair_counts_) {
      auto values = named_sums_[pv];
      values["__count"] = static_cast<double>(count);
      for (const auto& [name, expr] : suite_.derived_metrics) {
        DerivedMetric d{name, suite_.prompts[pv.first].label, suite_.providers[pv.second].label, 0,
                        ""};
        try {
          d.value = eval_metric_expression(expr, values);
          values[name] = d.value;
        } catch (const Error& e) {
          d.error = e.what();
        }
        sum_.derived.push_back(std::move(d));
      }
    }
  }

  // Without thresholds every case must pass (as a test runner would).
  void check_thresholds() {
    double required =
        suite_.pass_rate ? *suite_.pass_rate : (suite_.metric_minimums.empty() ? 1.0 : 0.0);
    double rate = sum_.pass_rate();  // the baseline's cases aside
    if (rate < required) {
      sum_.thresholds_met = false;
      sum_.threshold_failures.push_back(
          fmt::format("pass rate {:.3f} < {:.3f}{}", rate, required,
                      suite_.baseline.empty() ? "" : " (baseline aside)"));
    }
    for (const auto& [name, min] : suite_.metric_minimums) {
      auto it = sum_.metrics.find(name);
      double mean = it == sum_.metrics.end() || it->second.second == 0
                        ? 0
                        : it->second.first / it->second.second;
      if (mean < min) {
        sum_.thresholds_met = false;
        sum_.threshold_failures.push_back(
            fmt::format("metric {} mean {:.3f} < {:.3f}", name, mean, min));
      }
    }
  }

  // Regressions and fixes of every other provider against the baseline's same cases.
  void diff_against_baseline() {
    size_t b = 0;
    while (b < suite_.providers.size() && suite_.providers[b].label != suite_.baseline) ++b;
    if (b == suite_.providers.size()) return;
    for (size_t v = 0; v < suite_.providers.size(); ++v) {
      if (v == b) continue;
      BaselineDiff d;
      d.provider = suite_.providers[v].label;
      d.baseline = suite_.baseline;
      for (const auto& [key, got] : verdicts_) {
        if (std::get<3>(key) != v) continue;
        auto base = verdicts_.find({std::get<0>(key), std::get<1>(key), std::get<2>(key), b});
        if (base == verdicts_.end() || base->second == 2 || got == 2) continue;
        ++d.compared;
        if (base->second == got) continue;
        CaseRef ref{std::get<0>(key), suite_.tests[std::get<0>(key)].description,
                    suite_.prompts[std::get<1>(key)].label, static_cast<int>(std::get<2>(key))};
        (got == 1 ? d.regressions : d.fixes).push_back(std::move(ref));
      }
      sum_.against_baseline.push_back(std::move(d));
    }
  }

  void finish() {
    for (const auto& [key, o] : outcomes_)
      if (o.first && o.second) sum_.flaky.push_back(key);
    if (!suite_.derived_metrics.empty()) derive_metrics();
    for (const auto& [key, st] : pairwise_)
      sum_.pairwise.push_back(
          {suite_.providers[key.first].label, key.second, st, pairwise_groups_[key]});
    if (!suite_.baseline.empty()) diff_against_baseline();
    for (size_t v = 0; v < providers_.size(); ++v)
      for (const auto& [what, h] : providers_[v]->content_hashes())
        sum_.content_hashes[suite_.providers[v].label + "/" + what] = h;
    check_thresholds();
  }

  const Suite& suite_;
  const Workspace* ws_;
  const EvalOptions& opts_;
  const std::function<void(const CaseResult&)>& sink_;
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<Provider>> providers_;
  std::vector<std::string> identities_;
  std::vector<bool> retrieving_;  // per test: it has {retrieve: ...} vars
  // Judge / baseline / embedding providers named by assertions, made on first use.
  std::map<std::string, std::unique_ptr<Provider>> extra_;
  std::mutex extra_mu_;
  CallCache cache_;
  ScriptWorkers scripts_;  // node / python3, started on the first javascript / python assertion
  std::vector<std::pair<size_t, size_t>> pairs_;
  size_t R_;
  std::mutex sum_mu_;
  EvalSummary sum_;
  std::map<std::string, std::pair<int, int>> outcomes_;  // per test/prompt/provider: pass, fail
  std::map<std::pair<size_t, size_t>, std::map<std::string, double>> named_sums_;
  std::map<std::pair<size_t, size_t>, size_t> pair_counts_;
  std::map<std::pair<size_t, std::string>, PairwiseStats> pairwise_;  // (provider, baseline)
  std::map<std::pair<size_t, std::string>, std::map<std::string, PairwiseStats>> pairwise_groups_;
  std::map<size_t, CaseResult> pending_;
  std::vector<bool> comparing_;  // per test: has select-best / max-score
  // (test, prompt, repeat, provider) -> 0 passed, 1 failed, 2 errored (with a baseline only).
  std::map<std::tuple<size_t, size_t, size_t, size_t>, int> verdicts_;
  AskJudge ask_judge_;
  size_t next_emit_ = 0;
};

}  // namespace

EvalSummary run_suite(const Suite& suite, const Workspace* ws, db::Database* db,
                      const EvalOptions& opts, const std::function<void(const CaseResult&)>& sink) {
  return SuiteRun(suite, ws, db, opts, sink).run();
}

}  // namespace xops
