#include "core/eval/runner.hpp"

#include <atomic>
#include <chrono>
#include <mutex>

#include "core/db/database.hpp"
#include "core/error.hpp"
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

EvalSummary run_suite(const Suite& suite, const Workspace* ws, db::Database* db,
                      const EvalOptions& opts, const std::function<void(const CaseResult&)>& sink) {
  auto t0 = std::chrono::steady_clock::now();
  auto suite_dir = std::filesystem::absolute(suite.file).parent_path();
  std::vector<std::unique_ptr<Provider>> providers;
  for (const auto& p : suite.providers)
    providers.push_back(make_provider(p, ws, suite_dir, opts.key_hosts));
  // Judge / baseline / embedding providers named by assertions, made on first use.
  std::map<std::string, std::unique_ptr<Provider>> extra;
  std::mutex extra_mu;
  auto named = [&](const std::string& id) -> Provider& {
    for (size_t i = 0; i < suite.providers.size(); ++i)
      if (suite.providers[i].id == id || suite.providers[i].label == id) return *providers[i];
    std::lock_guard<std::mutex> lock(extra_mu);
    auto& p = extra[id];
    if (!p)
      p = make_provider(ProviderSpec{id, id, nlohmann::json::object(), {}}, ws, suite_dir,
                        opts.key_hosts);
    return *p;
  };
  CallCache cache(opts.use_cache && opts.repeat <= 1 ? db : nullptr);
  ScriptWorkers scripts;  // node / python3, started on the first javascript / python assertion
  std::vector<std::string> identities;
  for (auto& p : providers) identities.push_back(p->identity());
  // An empty identity means the provider's answers cannot be keyed safely: never cached.
  // An empty identity means the provider's answers cannot be keyed safely: never cached.
  // Providers that receive the vars (exec:) are keyed by them too.
  auto cached_call = [&](Provider& p, const std::string& identity, const std::string& prompt,
                         const nlohmann::json& context, bool* hit) {
    if (identity.empty()) return p.call_in(prompt, context);
    // A prompt's own config (response_format, ...) changes the answer too.
    auto prompt_config = context.contains("prompt")
                             ? context["prompt"].value("config", nlohmann::json::object())
                             : nlohmann::json::object();
    auto key = sha256_hex(
        identity + "\x1f" + prompt +
        (p.uses_context() ? "\x1f" + context.value("vars", nlohmann::json::object()).dump() : "") +
        (prompt_config.empty() ? "" : "\x1f" + prompt_config.dump()));
    if (auto c = cache.get(key)) {
      if (hit) *hit = true;
      return ProviderCall{c->first, c->second, ""};
    }
    auto r = p.call_in(prompt, context);
    if (r.error.empty()) cache.put(key, r.output, r.latency_ms);
    return r;
  };
  // A JavaScript transform (code, or {"file", "function"}) of an output value.
  auto run_transform = [&](const nlohmann::json& transform, const nlohmann::json& output,
                           const nlohmann::json& context) {
    nlohmann::json req = {{"output", output}, {"context", context}};
    if (transform.is_object()) {
      req["file"] = transform["file"];
      req["function"] = transform["function"];
    } else {
      req["code"] = transform.get<std::string>();
    }
    return scripts.call(
        transform.is_object() ? transform.value("language", "javascript") : "javascript", req,
        60000);
  };

  EvalSummary sum;
  for (const auto& p : suite.providers) sum.providers.push_back({p.label});
  const size_t T = suite.tests.size(), V = providers.size();
  const size_t R = static_cast<size_t>(std::max(1, opts.repeat));
  auto pairs = prompt_provider_pairs(suite);
  const size_t PV = pairs.size();
  const size_t total = T * PV * R;
  std::mutex sum_mu;
  std::map<std::string, std::pair<int, int>> outcomes;  // per (test,prompt,provider): passes, fails
  std::map<std::pair<size_t, size_t>, std::map<std::string, double>>
      named_sums;  // derivedMetrics inputs
  std::map<std::pair<size_t, size_t>, size_t> pair_counts;
  // Results reach the sink in suite order whatever -j is (reports are deterministic): a case
  // that finishes early waits here for the ones before it. Cases are started in order, so
  // this holds about `jobs` results at most beyond one slow case.
  std::map<size_t, CaseResult> pending;
  size_t next_emit = 0;
  // Local models run one call at a time anyway; everything else runs `jobs` wide.
  parallel_for(total, std::max(1, opts.jobs), [&](size_t k) {
    size_t rep = k % R, pv = (k / R) % PV, ti = k / R / PV;
    size_t pi = pairs[pv].first, v = pairs[pv].second;
    const auto& test = suite.tests[ti];
    CaseResult c;
    c.index = ti, c.prompt = pi, c.provider = v, c.repeat = static_cast<int>(rep);
    c.test_description = test.description;
    c.prompt_label = suite.prompts[pi].label;
    c.provider_label = suite.providers[v].label;
    c.vars = test.vars;
    c.rendered_prompt = test.prefix + render_prompt(suite.prompts[pi], test.values) + test.suffix;
    nlohmann::json test_json = {{"vars", test.values}, {"description", test.description}};
    if (!test.metadata.empty()) test_json["metadata"] = test.metadata;
    nlohmann::json call_context = {{"vars", test.values},
                                   {"prompt",
                                    {{"raw", suite.prompts[pi].text},
                                     {"label", suite.prompts[pi].label},
                                     {"config", suite.prompts[pi].config}}},
                                   {"test", test_json}};
    auto call =
        cached_call(*providers[v], identities[v], c.rendered_prompt, call_context, &c.cached);
    c.output = call.output;
    c.latency_ms = call.latency_ms;
    c.error = call.error;
    // A transform may turn the output into a value (JSON.parse(output)): scripts then see the
    // value, text assertions its JSON text, as in promptfoo.
    nlohmann::json value = c.output;
    nlohmann::json script_context = {
        {"vars", test.values}, {"prompt", c.rendered_prompt}, {"test", test_json}};
    if (c.error.empty() && !test.transform.is_null()) {
      try {
        value = run_transform(test.transform, value, script_context);
        if (value.is_discarded()) value = nullptr;
        c.output = value.is_string() ? value.get<std::string>()
                   : value.is_null() ? ""
                                     : value.dump();
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Interrupted) throw;
        c.error = fmt::format("transform failed: {}", e.what());
      }
    }
    if (c.error.empty()) {
      AssertionContext ctx;
      ctx.output = c.output;
      if (!value.is_string()) ctx.output_value = &value;
      ctx.prompt = c.rendered_prompt;
      ctx.latency_ms = c.latency_ms;
      ctx.vars = &test.vars;
      ctx.values = &test.values;
      ctx.test_description = test.description;
      ctx.run_script = [&](const std::string& lang, const nlohmann::json& req, int timeout_ms) {
        return scripts.call(lang, req, timeout_ms);
      };
      ctx.default_judge = suite.judge;
      ctx.default_embedding = suite.embedding;
      ctx.ask = [&](const std::string& judge, const std::string& prompt) {
        auto& p = named(judge);
        auto r = cached_call(p, p.identity(), prompt, nlohmann::json::object(), nullptr);
        if (!r.error.empty()) throw runtime_error(fmt::format("judge {}: {}", judge, r.error));
        return r.output;
      };
      ctx.embed = [&](const std::string& provider, const std::string& text) {
        return named(provider).embed(text);
      };
      ctx.perplexity = [&](const std::string& prompt, const std::string& output) {
        return providers[v]->perplexity(prompt, output);
      };
      ctx.baseline_output = [&](const std::string& baseline) {
        auto& p = named(baseline);
        auto r = cached_call(p, p.identity(), c.rendered_prompt, call_context, nullptr);
        if (!r.error.empty())
          throw runtime_error(fmt::format("baseline {}: {}", baseline, r.error));
        return r.output;
      };
      double wsum = 0, ssum = 0;
      c.pass = true;
      for (const auto& a : test.asserts) {
        AssertionResult ar;
        try {
          if (!a.transform.is_null()) {
            // An assertion's own transform sees the (test-transformed) output.
            AssertionContext actx = ctx;
            nlohmann::json avalue;
            try {
              avalue = run_transform(a.transform, value, script_context);
            } catch (const Error& e) {
              if (e.kind() == ErrorKind::Interrupted) throw;
              throw runtime_error(fmt::format("assertion transform failed: {}", e.what()));
            }
            if (avalue.is_discarded()) avalue = nullptr;
            actx.output = avalue.is_string() ? avalue.get<std::string>()
                          : avalue.is_null() ? ""
                                             : avalue.dump();
            actx.output_value = avalue.is_string() ? nullptr : &avalue;
            ar = check_assertion(a, actx);
          } else {
            ar = check_assertion(a, ctx);
          }
        } catch (const Error& e) {
          // A broken suite stops the run, and so does Ctrl-C (not a failed case).
          if (e.kind() == ErrorKind::Usage || e.kind() == ErrorKind::Interrupted) throw;
          c.error = e.what();
          c.pass = false;
          break;
        }
        if (a.weight > 0) c.pass &= ar.pass;  // weight 0: a metric only, as in promptfoo
        wsum += a.weight;
        ssum += a.weight * ar.score;
        c.asserts.emplace_back(a, ar);
      }
      c.score = wsum > 0 ? ssum / wsum : (c.pass ? 1 : 0);
      if (test.threshold && c.error.empty())
        c.pass = c.score + 1e-12 >= *test.threshold;  // promptfoo's test threshold
      if (!c.error.empty())
        c.pass = false, c.score = 0;  // an errored case scores 0, as in promptfoo
    }
    {
      std::lock_guard<std::mutex> lock(sum_mu);
      ++sum.cases;
      auto& ps = sum.providers[v];
      ++ps.cases;
      ps.latency_ms_total += c.latency_ms;
      if (!c.error.empty())
        ++sum.errors, ++ps.errors;
      else if (c.pass)
        ++sum.passed, ++ps.passed;
      else
        ++sum.failed, ++ps.failed;
      if (c.cached) ++sum.cached;
      ++pair_counts[{pi, v}];
      for (const auto& [a, ar] : c.asserts)
        if (!a.metric.empty()) {
          auto& m = sum.metrics[a.metric];
          m.first += ar.score;
          ++m.second;
          named_sums[{pi, v}][a.metric] += ar.score;
        }
      if (R > 1) {
        auto& o = outcomes[fmt::format("{}/{}/{}", ti, pi, v)];
        (c.pass ? o.first : o.second)++;
      }
      pending.emplace(k, std::move(c));
      for (auto it = pending.find(next_emit); it != pending.end(); it = pending.find(++next_emit)) {
        sink(it->second);
        pending.erase(it);
      }
    }
  });
  for (const auto& [key, o] : outcomes)
    if (o.first && o.second) sum.flaky.push_back(key);
  // promptfoo's derivedMetrics: per prompt and provider, over the sums of the named scores
  // (and __count, the cases run), in the order given (a derived metric may use earlier ones).
  if (!suite.derived_metrics.empty())
    for (const auto& [pv, count] : pair_counts) {
      auto values = named_sums[pv];
      values["__count"] = static_cast<double>(count);
      for (const auto& [name, expr] : suite.derived_metrics) {
        DerivedMetric d{name, suite.prompts[pv.first].label, suite.providers[pv.second].label, 0,
                        ""};
        try {
          d.value = eval_metric_expression(expr, values);
          values[name] = d.value;
        } catch (const Error& e) {
          d.error = e.what();
        }
        sum.derived.push_back(std::move(d));
      }
    }
  for (size_t v = 0; v < V; ++v)
    for (const auto& [what, h] : providers[v]->content_hashes())
      sum.content_hashes[suite.providers[v].label + "/" + what] = h;
  // Without thresholds every case must pass (as a test runner would).
  double required =
      suite.pass_rate ? *suite.pass_rate : (suite.metric_minimums.empty() ? 1.0 : 0.0);
  if (sum.pass_rate() < required) {
    sum.thresholds_met = false;
    sum.threshold_failures.push_back(
        fmt::format("pass rate {:.3f} < {:.3f}", sum.pass_rate(), required));
  }
  for (const auto& [name, min] : suite.metric_minimums) {
    auto it = sum.metrics.find(name);
    double mean = it == sum.metrics.end() || it->second.second == 0
                      ? 0
                      : it->second.first / it->second.second;
    if (mean < min) {
      sum.thresholds_met = false;
      sum.threshold_failures.push_back(
          fmt::format("metric {} mean {:.3f} < {:.3f}", name, mean, min));
    }
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace xops
