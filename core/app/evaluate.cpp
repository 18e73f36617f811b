#include "core/app/evaluate.hpp"
#include "core/util/json_error.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>

#include "core/app/index.hpp"
#include "core/error.hpp"
#include "core/eval/pairwise.hpp"
#include "core/eval/report_writers.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/resolve.hpp"
#include "core/store/object_store.hpp"
#include "core/store/sha256.hpp"
#include "core/tracking/evidence.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"

namespace xops {

std::vector<std::string> key_hosts_with_env(std::vector<std::string> hosts) {
  if (const char* e = std::getenv("XOPS_KEY_HOSTS")) {
    std::string v = e;
    for (size_t p = 0; p <= v.size();) {
      auto c = v.find(',', p);
      if (c == std::string::npos) c = v.size();
      auto item = v.substr(p, c - p);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) hosts.push_back(item);
      p = c + 1;
    }
  }
  return hosts;
}

namespace {

// The vars and description of each failed case in an earlier results file: xops's -o
// results.json ({summary, results: [{description, vars, pass, error}]}) or promptfoo's
// ({results: {results: [{vars, success, testCase: {description}}]}}).
std::set<std::string> failing_keys(const std::string& file) {
  auto text = read_file_limited(file, 1u << 30, "a results file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw usage_error(fmt::format("--filter-failing {}: not JSON: {}", file, json_error(e)));
  }
  const nlohmann::json* rows = nullptr;
  if (j.contains("results") && j["results"].is_array())
    rows = &j["results"];
  else if (j.contains("results") && j["results"].is_object() && j["results"].contains("results"))
    rows = &j["results"]["results"];
  if (!rows || !rows->is_array())
    throw usage_error(fmt::format("--filter-failing {}: not an eval results file", file),
                      "give a file written by xops eval -o results.json (or promptfoo's -o)");
  std::set<std::string> keys;
  for (const auto& r : *rows) {
    if (!r.is_object()) continue;
    bool failed = r.contains("pass")
                      ? !(r["pass"] == true) || !r.value("error", nlohmann::json()).is_null()
                      : !(r.value("success", false));
    if (!failed) continue;
    std::map<std::string, std::string> vars;
    if (r.contains("vars") && r["vars"].is_object())
      for (auto& [k, v] : r["vars"].items())
        if (k.rfind("__", 0) != 0) vars[k] = v.is_string() ? v.get<std::string>() : v.dump();
    keys.insert(nlohmann::json(vars).dump());
  }
  return keys;
}

std::string vars_key(const TestSpec& t) {
  std::map<std::string, std::string> vars;
  for (auto& [k, v] : t.values.items()) vars[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return nlohmann::json(vars).dump();
}

}  // namespace

void filter_tests(Suite& suite, const EvalRequest& req) {
  auto& tests = suite.tests;
  if (!req.filter_pattern.empty()) {
    std::regex re;
    try {
      re = std::regex(req.filter_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw usage_error(fmt::format("--filter-pattern {}: {}", req.filter_pattern, e.what()));
    }
    tests.erase(
        std::remove_if(tests.begin(), tests.end(),
                       [&](const TestSpec& t) { return !std::regex_search(t.description, re); }),
        tests.end());
  }
  if (!req.filter_failing.empty()) {
    auto keys = failing_keys(req.filter_failing);
    tests.erase(std::remove_if(tests.begin(), tests.end(),
                               [&](const TestSpec& t) { return !keys.count(vars_key(t)); }),
                tests.end());
  }
  if (req.filter_first_n && tests.size() > req.filter_first_n) tests.resize(req.filter_first_n);
  if (tests.empty())
    throw usage_error("the filters leave no test to run",
                      "check --filter-pattern / --filter-failing / --filter-first-n");
}

// What an eval run evaluated, for its name: --model, else the provider (its label, or the last
// part of its id), "+N" when there are more.
static std::string evaluated_label(const EvalRequest& req, const Suite& suite) {
  auto short_name = [](const std::string& id) {
    auto s = id;
    while (!s.empty() && s.back() == '/') s.pop_back();
    auto slash = s.find_last_of('/');
    return slash == std::string::npos ? s : s.substr(slash + 1);
  };
  if (req.models.size() == 1) return short_name(req.models[0]);
  if (!req.models.empty())
    return fmt::format("{} +{}", short_name(req.models[0]), req.models.size() - 1);
  if (suite.providers.empty()) return "no provider";
  const auto& p = suite.providers.front();
  auto first = p.label.empty() || p.label == p.id ? short_name(p.id) : p.label;
  return suite.providers.size() == 1 ? first
                                     : fmt::format("{} +{}", first, suite.providers.size() - 1);
}

namespace {

bool is_local_model(const std::string& id) {
  return id.rfind("exec:", 0) != 0 && id.rfind("openai:", 0) != 0 && id != "echo";
}

// Whether two model refs name the same content (NAME#prod and the version it holds, a path
// and the artifact stored from it); refs that do not resolve here are left to the run.
bool same_model(const std::string& a, const std::string& b, const Workspace* ws) {
  if (!is_local_model(a) || !is_local_model(b)) return false;
  try {
    auto x = refs::resolve_model(a, ws), y = refs::resolve_model(b, ws);
    if (!x.content_hash.empty() && x.content_hash == y.content_hash) return true;
    std::error_code ec;
    auto adapter = [](const refs::Target& t) {
      return t.adapter ? t.adapter->path.lexically_normal() : std::filesystem::path();
    };
    return std::filesystem::weakly_canonical(x.path, ec) ==
               std::filesystem::weakly_canonical(y.path, ec) &&
           adapter(x) == adapter(y);
  } catch (const Error&) {
    return false;
  }
}

// --baseline / `baseline:`: one more provider, under the first candidate's config; with a
// judge, each test also gets a pairwise comparison with it (weight 0: it measures, the
// assertions still decide the case).
void add_baseline(Suite& suite, const std::string& ref, const Workspace* ws) {
  for (const auto& p : suite.providers) {
    if (p.id == ref || p.label == ref || same_model(p.id, ref, ws))
      throw usage_error(
          fmt::format("the baseline {} is {}, the version being evaluated: a comparison with "
                      "itself says nothing",
                      ref, p.label),
          ref.find('#') != std::string::npos && ref.find('~') == std::string::npos
              ? fmt::format("{}~1 is the version that held the stage before it", ref)
              : "give the version to compare against, e.g. --model NAME@v0.0.2 --baseline "
                "NAME#prod");
  }
  const auto& first = suite.providers[0];
  suite.providers.push_back(
      ProviderSpec{ref, ref, baseline_config(first.id, first.config, ref), {}});
  suite.baseline = ref;
  if (suite.judge.empty()) return;
  for (auto& t : suite.tests) {
    AssertionSpec a;
    a.type = "pairwise";
    a.baseline = ref;
    a.weight = 0;
    t.asserts.push_back(std::move(a));
  }
}

}  // namespace

EvalOutcome evaluate(const EvalRequest& req, const Workspace* ws, const EvalObserver& obs) {
  EvalOutcome o;
  std::vector<std::string> warnings;
  auto suite_file =
      req.suite.is_relative() && !req.base_dir.empty() ? req.base_dir / req.suite : req.suite;
  o.suite = load_suite(suite_file, &warnings);
  if (obs.on_warning)
    for (const auto& w : warnings) obs.on_warning(w);
  auto& suite = o.suite;
  if (!req.models.empty()) {
    // Evaluate these models instead of the suite's providers (keeping the first one's config
    // when it was a local model: max_tokens, stop, ...), every one under the same config.
    const auto first = suite.providers[0];
    bool remote = first.id.rfind("exec:", 0) == 0 || first.id.rfind("openai:", 0) == 0;
    suite.providers.clear();
    for (const auto& m : req.models) {
      for (const auto& p : suite.providers)
        if (p.id == m || same_model(p.id, m, ws))
          throw usage_error(
              fmt::format("--model {} is given twice ({} is the same version)", m, p.id),
              "each --model is one column of the comparison");
      suite.providers.push_back(
          ProviderSpec{m, m, remote ? nlohmann::json::object() : first.config, {}});
    }
  }
  if (!req.prompt.empty()) {
    // Exactly one version of a prompt (a registry ref) or a file, instead of the suite's.
    auto target = refs::resolve_file(req.prompt, ws);
    if (!target)
      throw precondition_error(
          fmt::format("no prompt '{}': not a file nor a registry reference", req.prompt),
          "give a prompt file or NAME@vX.Y.Z / NAME#STAGE of a prompt artifact");
    PromptSpec ps;
    ps.label = ps.where = ps.ref = req.prompt;
    ps.text = read_file_limited(target->path, 16u << 20, "prompt");
    ps.file_sha256 = sha256_hex(ps.text);
    ps.json = nlohmann::json::accept(ps.text) &&
              nlohmann::json::parse(ps.text).is_structured();  // a chat prompt
    // Read as a suite reads a prompt file (promptfoo trims it): the same version sent by
    // `--prompt REF` and by `prompts: [file://...]` is the same text.
    if (!ps.json) {
      auto b = ps.text.find_first_not_of(" \t\r\n");
      ps.text = b == std::string::npos
                    ? ""
                    : ps.text.substr(b, ps.text.find_last_not_of(" \t\r\n") - b + 1);
    }
    suite.prompts = {ps};
  }
  if (!req.judge.empty())
    suite.judge = req.judge;
  else if (suite.judge.empty())
    suite.judge = req.default_judge;
  if (!req.embedding.empty())
    suite.embedding = req.embedding;
  else if (suite.embedding.empty())
    suite.embedding = req.default_embedding;
  filter_tests(suite, req);
  if (auto b = !req.baseline.empty() ? req.baseline : suite.baseline_ref; !b.empty())
    add_baseline(suite, b, ws);
  for (auto& t : suite.tests)
    for (const auto& [k, v] : req.vars) {
      t.vars[k] = v;
      t.values[k] = v;
    }
  std::optional<Tracker> tracker;
  std::optional<RunSession> session;  // marks the run killed/failed if we leave early
  if (ws && req.track) {
    tracker.emplace(Tracker::for_workspace(*ws));
    RunStart rs;
    rs.name = fmt::format("{} on {}", evaluated_label(req, suite), req.suite.stem().string());
    rs.kind = "eval";
    rs.command =
        "xops eval " + req.suite.string() +
        (req.models.empty() ? ""
                            : " --model " + fmt::format("{}", fmt::join(req.models, " --model "))) +
        (req.baseline.empty() ? "" : " --baseline " + req.baseline) +
        (req.prompt.empty() ? "" : " --prompt " + req.prompt);
    rs.params = {{"suite", req.suite.string()},
                 {"repeat", std::to_string(req.opts.repeat)},
                 {"jobs", std::to_string(req.opts.jobs)}};
    for (size_t i = 0; i < suite.providers.size(); ++i)
      rs.params["provider." + std::to_string(i)] = suite.providers[i].id;
    session.emplace(*tracker, rs, ws);
    o.run_id = session->id();
  }
  ReportPaths paths{req.jsonl, req.junit, req.html, {}, {}};
  for (const auto& o : req.outputs) add_output_path(paths, o);
  // A tracked run keeps its case results (the JSONL of -o x.jsonl) as its artifact
  // "results.jsonl": what `xops ui` shows as the tests x providers matrix.
  fs::path kept;
  std::ofstream kept_out;
  if (session) {
    fs::create_directories(ws->tmp_dir());
    kept = ws->tmp_dir() / ("eval-" + o.run_id + ".jsonl");
    kept_out.open(kept, std::ios::binary | std::ios::trunc);
  }
  ReportWriters writers(paths);
  size_t total = count_cases(suite, req.opts.repeat);
  // {retrieve: INDEX} vars: each index opened once (with its embedding model), searched by
  // every case that asks; its content hash joins the run's inputs.
  auto opts = req.opts;
  std::mutex index_mu;
  std::map<std::string, std::unique_ptr<app::Retriever>> indexes;
  opts.retrieve = [&](const RetrievalSpec& spec, const std::string& query) {
    std::lock_guard<std::mutex> lock(index_mu);
    auto& r = indexes[spec.index];
    if (!r) r = app::Retriever::open(spec.index, ws);
    std::vector<index::Where> where;
    for (const auto& [k, v] : spec.where) where.push_back({k, v});
    std::vector<RetrievedChunk> out;
    for (const auto& h : r->search(query, spec.k, where))
      out.push_back({h.id, h.source, h.text, h.score});
    return out;
  };
  if (obs.on_start) obs.on_start(total);
  std::string first_error;  // kept with the run: a gate that reads it can say the cause
  try {
    o.summary = run_suite(suite, ws, tracker ? &tracker->db() : nullptr, opts,
                          [&](const CaseResult& c) {
                            writers.add(c);
                            if (kept_out.is_open())
                              kept_out
                                  << case_json(c).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace)
                                  << '\n';
                            if (first_error.empty() && !c.error.empty()) first_error = c.error;
                            if (obs.on_case) obs.on_case(c);
                          });
    if (req.fail_on_regression)
      for (const auto& d : o.summary.against_baseline)
        if (!d.regressions.empty()) {
          o.summary.thresholds_met = false;
          o.summary.threshold_failures.push_back(fmt::format(
              "{} regression(s) of {} against {}", d.regressions.size(), d.provider, d.baseline));
        }
    writers.finish(o.summary, suite);
  } catch (const std::exception& e) {
    if (!kept.empty()) {
      kept_out.close();
      std::error_code ec;
      fs::remove(kept, ec);
    }
    if (session) session->fail(e);  // the run records the exit code the command returns
    throw;
  }
  const auto& sum = o.summary;
  if (tracker && !indexes.empty()) {  // lineage: the exact index content the cases read
    std::map<std::string, std::string> used;
    for (const auto& [ref, r] : indexes)
      if (r) used["index:" + ref] = r->index().manifest.content_sha256;
    tracker->record_inputs(o.run_id, used);
  }
  if (tracker) {
    std::vector<MetricPoint> pts = {{"pass_rate", sum.pass_rate(), 0, 0},
                                    {"cases", double(sum.cases), 0, 0},
                                    {"errors", double(sum.errors), 0, 0}};
    for (const auto& p : sum.providers)
      pts.push_back({"pass_rate/" + p.label, p.cases ? double(p.passed) / p.cases : 0.0, 0, 0});
    for (const auto& [k, v] : sum.metrics)
      pts.push_back({"metric/" + k, v.second ? v.first / v.second : 0.0, 0, 0});
    // One candidate: baseline/regressions, pairwise/win_rate, ...; several (--model A
    // --model B): each under its label, baseline/regressions/LABEL (what a gate reads back).
    const bool several = sum.against_baseline.size() > 1;
    auto per = [&](const std::string& key, const std::string& label) {
      return several ? key + "/" + label : key;
    };
    for (const auto& d : sum.against_baseline) {
      pts.push_back({per("baseline/regressions", d.provider), double(d.regressions.size()), 0, 0});
      pts.push_back({per("baseline/fixes", d.provider), double(d.fixes.size()), 0, 0});
      pts.push_back({per("baseline/compared", d.provider), double(d.compared), 0, 0});
    }
    for (const auto& p : sum.pairwise)
      if (p.baseline == suite.baseline) {
        for (const auto& [k, v] : pairwise_figures(p.stats))
          pts.push_back({per("pairwise/" + k, p.provider), v, 0, 0});
      }
    tracker->log_metrics(o.run_id, pts);
    // Lineage: the exact suite, prompts and model/adapter contents this result is about.
    std::map<std::string, std::string> inputs = {
        {evidence::suite_key(req.suite.string()), suite.content_sha256}};
    for (const auto& p : suite.prompts)
      inputs[evidence::prompt_key(p.label)] =
          p.file_sha256.empty() ? sha256_hex(p.text) : p.file_sha256;
    // A baseline's content is recorded apart: this run is no evidence about the baseline.
    for (const auto& [k, h] : sum.content_hashes)
      inputs[!suite.baseline.empty() && k.rfind(suite.baseline + "/", 0) == 0
                 ? evidence::baseline_key(k)
                 : evidence::provider_key(k)] = h;
    tracker->record_inputs(o.run_id, inputs);
    if (kept_out.is_open()) {
      kept_out.close();
      if (kept_out) {
        ObjectStore store(ws->objects_dir(), ws->tmp_dir());
        auto obj = store.add_file(kept);
        tracker->log_artifact(o.run_id, "results.jsonl", obj.id, static_cast<int64_t>(obj.size),
                              "");
      }
      std::error_code ec;
      fs::remove(kept, ec);
    }
    std::map<std::string, std::string> tags = {
        {"thresholds_met", sum.thresholds_met ? "true" : "false"}};
    if (!first_error.empty()) tags["first_error"] = first_error.substr(0, 300);
    tracker->log_tags(o.run_id, tags);
    // Missed thresholds are a failure: the run records the exit code the command returns.
    int code = o.exit_code();
    session->finish(code ? RunStatus::Failed : RunStatus::Finished, code);
  }
  return o;
}

}  // namespace xops
