// `xops monitor` (#29, first part): a generated traffic set (two versions, 2,000 requests,
// errors, feedback, a few impossible TTFTs) written as `xops serve` writes it, read back
// through the binary; every count and percentile is computed again here from the same
// numbers, and `--check` exits 4 exactly when a threshold is crossed.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/db/database.hpp"
#include "core/tracking/interaction_log.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Expected {
  size_t requests = 0, errors = 0, feedback = 0, bad_ttft = 0, length = 0, refused = 0,
         cancelled = 0, helpful = 0;
  std::map<int, size_t> statuses;
  std::map<std::string, size_t> codes;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double score_sum = 0, helpful_sum = 0;
  std::vector<double> latency, ttft;
};

double rank(std::vector<double> v, double p) {  // nearest rank, written out again
  std::sort(v.begin(), v.end());
  size_t k = 0;
  while (k < v.size() && static_cast<double>(k + 1) < p / 100.0 * static_cast<double>(v.size()))
    ++k;
  return v[k];
}

}  // namespace

TEST_CASE("monitor: counts and percentiles per version match the log, --check crosses exactly",
          "[e2e][monitor][serve]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  std::map<std::string, Expected> want;
  {
    InteractionLog log(project_db(p), 0);
    std::mt19937 rng(7);
    const int64_t t0 = 1796000000000;
    for (int i = 0; i < 2000; ++i) {
      bool second = i >= 1200;  // v2 from the 1,201st request on, slower and less liked
      std::string version = second ? "m@v0.0.2" : "m@v0.0.1";
      auto& e = want[version];
      Interaction x;
      x.id = "cmpl-" + std::to_string(i);
      x.route = i % 3 ? "completions" : "chat";
      x.model = "m";
      x.version = version;
      x.prompt = "p";
      x.output = "o";
      x.params = "{}";
      x.created_ms = t0 + i * 1000;
      x.prompt_tokens = 10 + i % 7;
      x.completion_tokens = 20 + i % 5;
      x.latency_ms =
          std::uniform_real_distribution<double>(second ? 100 : 50, second ? 300 : 150)(rng);
      x.finish_reason = second && i % 50 == 0 ? "error" : i % 9 == 0 ? "length" : "stop";
      x.status = x.finish_reason == "error" ? 500 : 200;
      if (i % 97 == 0)
        x.ttft_ms = -3;  // impossible: counted, never averaged
      else
        x.ttft_ms = x.latency_ms * 0.2;
      if (i % 37 == 5) {  // refused before generating: no timings, no tokens
        x.status = i % 2 ? 400 : 429;
        x.error = i % 2 ? "context_length_exceeded" : "rate_limit_exceeded";
        x.finish_reason.clear();
        x.latency_ms = 0.3, x.ttft_ms.reset(), x.prompt_tokens = 0, x.completion_tokens = 0;
        ++e.refused;
        ++e.codes[x.error];
      } else if (i % 41 == 3) {  // the client left mid-answer
        x.status = 499, x.finish_reason = "cancelled", x.error = "cancelled";
        ++e.cancelled;
        ++e.codes[x.error];
      }
      log.record(x);
      ++e.statuses[x.status];
      ++e.requests;
      e.errors += x.finish_reason == "error";
      e.length += x.finish_reason == "length";
      e.prompt_tokens += x.prompt_tokens;
      e.completion_tokens += x.completion_tokens;
      if (x.generated()) {
        e.latency.push_back(x.latency_ms);
        if (*x.ttft_ms < 0)
          ++e.bad_ttft;
        else
          e.ttft.push_back(*x.ttft_ms);
      }
      if (i % 4 == 0) {
        double score = second ? (i % 8 == 0 ? 0.0 : 1.0) : 1.0;
        REQUIRE(log.add_feedback(x.id, {score, "", x.created_ms + 500}));
        ++e.feedback;
        e.score_sum += score;
      }
      if (i % 10 == 1) {  // a second named score on a 1..5 scale, with who gave it
        Feedback h;
        h.name = "helpful", h.score = second ? 1 + i % 3 : 3 + i % 3,
        h.user = "u" + std::to_string(i / 10 % 5);
        h.session = "s" + std::to_string(i % 2);
        h.created_ms = x.created_ms + 700;
        REQUIRE(log.add_scores(x.id, {h}));
        ++e.feedback, ++e.helpful;
        e.helpful_sum += *h.score;
      }
    }
  }
  auto r = run_xops({"--json", "monitor"}, p);
  INFO(r.err);
  REQUIRE(r.rc == 0);
  auto j = json::parse(r.out);
  REQUIRE(j["groups"].size() == 2);
  CHECK(j["groups"][0]["key"] == "m@v0.0.1");  // in time order
  for (const auto& g : j["groups"]) {
    const auto& e = want.at(g["key"]);
    INFO(g["key"]);
    CHECK(g["requests"] == e.requests);
    CHECK(g["errors"] == e.errors);
    CHECK(g["refused"] == e.refused);
    CHECK(g["cancelled"] == e.cancelled);
    for (const auto& [status, n] : e.statuses) CHECK(g["statuses"][std::to_string(status)] == n);
    CHECK(g["statuses"].size() == e.statuses.size());
    CHECK(g["error_codes"].size() == e.codes.size());
    for (const auto& [code, n] : e.codes) CHECK(g["error_codes"][code] == n);
    CHECK(g["feedback"] == e.feedback);
    CHECK(g["scores"]["score"]["n"] == e.feedback - e.helpful);
    CHECK(g["feedback_mean"].get<double>() == Approx(e.score_sum / (e.feedback - e.helpful)));
    CHECK(g["scores"]["helpful"]["n"] == e.helpful);
    CHECK(g["scores"]["helpful"]["mean"].get<double>() == Approx(e.helpful_sum / e.helpful));
    CHECK(g["ttft_invalid"] == e.bad_ttft);
    CHECK(g["finish_reasons"]["length"] == e.length);
    CHECK(g["finish_reasons"].value("error", 0) == e.errors);
    CHECK(g["finish_reasons"].value("cancelled", 0) == e.cancelled);
    CHECK(g["prompt_tokens"] == e.prompt_tokens);
    CHECK(g["completion_tokens"] == e.completion_tokens);
    // One request a second: completion tokens over the span from the first to the last.
    CHECK(g["tokens_per_s"].get<double>() ==
          Approx(double(e.completion_tokens) / double(e.requests - 1)));
    for (double pct : {50.0, 95.0, 99.0}) {
      auto key = "p" + std::to_string(static_cast<int>(pct));
      CHECK(g["latency_ms"][key].get<double>() == Approx(rank(e.latency, pct)));
      CHECK(g["ttft_ms"][key].get<double>() == Approx(rank(e.ttft, pct)));
    }
  }
  CHECK(j["groups"][1]["change"]["from"] == "m@v0.0.1");
  CHECK(j["groups"][1]["change"]["p95_latency_ratio"].get<double>() > 1.5);
  {  // the change's deltas, from the counts above
    const auto &e1 = want.at("m@v0.0.1"), &e2 = want.at("m@v0.0.2");
    const auto& c = j["groups"][1]["change"];
    CHECK(c["error_rate_delta"].get<double>() ==
          Approx(double(e2.errors) / e2.requests - double(e1.errors) / e1.requests));
    CHECK(c["feedback_mean_delta"].get<double>() ==
          Approx(e2.score_sum / (e2.feedback - e2.helpful) -
                 e1.score_sum / (e1.feedback - e1.helpful)));
  }
  // monitor feedback: the newest rows first, filtered by name and user, with the schema.
  auto fbl = run_xops({"--json", "monitor", "feedback", "--name", "score", "--limit", "5"}, p);
  INFO(fbl.err);
  REQUIRE(fbl.rc == 0);
  auto fbj = json::parse(fbl.out);
  REQUIRE(fbj["feedback"].size() == 5);
  for (const auto& row : fbj["feedback"]) CHECK(row["name"] == "score");
  CHECK(fbj["feedback"][0]["interaction"] == "cmpl-1996");  // the newest scored request
  // A name xops.yaml does not declare is refused, not listed as empty.
  auto undeclared = run_xops({"monitor", "feedback", "--name", "helpfull"}, p);
  CHECK(undeclared.rc == 2);
  CHECK_THAT(undeclared.err, Catch::Contains("declares no such feedback score"));
  auto listing = run_xops({"--json", "monitor", "feedback", "--user", "u3", "--limit", "1000"}, p);
  INFO(listing.err);
  REQUIRE(listing.rc == 0);
  auto lj = json::parse(listing.out);
  size_t u3 = 0;
  for (int i = 0; i < 2000; ++i) u3 += i % 10 == 1 && i / 10 % 5 == 3;
  CHECK(lj["feedback"].size() == u3);
  for (const auto& row : lj["feedback"]) {
    CHECK(row["user"] == "u3");
    CHECK(row["name"] == "helpful");
  }
  CHECK(lj["feedback"][0]["created_ms"] >= lj["feedback"][1]["created_ms"]);
  // --per hour: each version over time, every window's count as the hours of the generator
  // say, each window beside the one before it.
  {
    auto per = run_xops({"--json", "monitor", "--per", "hour"}, p);
    INFO(per.err);
    REQUIRE(per.rc == 0);
    auto pj = json::parse(per.out);
    for (const auto& g : pj["groups"]) {
      std::map<int64_t, size_t> hours;  // hour -> requests of this version
      for (int i = 0; i < 2000; ++i)
        if ((i >= 1200 ? "m@v0.0.2" : "m@v0.0.1") == g["key"].get<std::string>())
          ++hours[(1796000000000 + int64_t{i} * 1000) / 3600000];
      REQUIRE(g["series"].size() == hours.size());
      size_t k = 0;
      for (const auto& [hour, n] : hours) {
        CHECK(g["series"][k]["requests"] == n);
        if (k) CHECK(g["series"][k]["change"]["from"] == g["series"][k - 1]["key"]);
        ++k;
      }
    }
    CHECK(run_xops({"monitor", "--by", "day", "--per", "day"}, p).rc == 2);
  }
  // By day and by route: the same requests, regrouped.
  auto by_route = json::parse(run_xops({"--json", "monitor", "--by", "route"}, p).out);
  size_t total = 0;
  for (const auto& g : by_route["groups"]) total += g["requests"].get<size_t>();
  CHECK(total == 2000);
  CHECK(by_route["groups"].size() == 2);

  // --check: a p95 threshold just under v0.0.2's crosses for it alone; just over it, nothing.
  double p95_v2 = rank(want.at("m@v0.0.2").latency, 95);
  double p95_v1 = rank(want.at("m@v0.0.1").latency, 95);
  REQUIRE(p95_v1 < p95_v2 - 2);
  auto with_monitor = [&](const std::string& yaml) {
    auto cfg = read_text(p / "xops.yaml");
    cfg = cfg.substr(0, cfg.find("monitor:"));
    write_text(p / "xops.yaml", cfg + yaml);
  };
  with_monitor(fmt::format("monitor: {{since: 2026-01-01, max_p95_latency_ms: {}}}\n", p95_v2 - 1));
  auto crossed = run_xops({"monitor", "--check"}, p);
  CHECK(crossed.rc == 4);
  CHECK_THAT(crossed.err, Catch::Contains("m@v0.0.2: p95 latency"));
  CHECK_THAT(crossed.err, !Catch::Contains("m@v0.0.1: p95 latency"));
  CHECK_THAT(crossed.err, Catch::Contains("xops.yaml:"));
  with_monitor(fmt::format("monitor: {{since: 2026-01-01, max_p95_latency_ms: {}}}\n", p95_v2 + 1));
  CHECK(run_xops({"monitor", "--check"}, p).rc == 0);
  // The error rate (v0.0.2's, counted above: 15 in 800) and the feedback mean (0.5).
  const auto& e2 = want.at("m@v0.0.2");
  double rate2 = double(e2.errors) / double(e2.requests);
  REQUIRE(rate2 > double(want.at("m@v0.0.1").errors) / double(want.at("m@v0.0.1").requests));
  with_monitor(fmt::format("monitor: {{since: 2026-01-01, max_error_rate: {}}}\n", rate2 - 1e-4));
  CHECK(run_xops({"monitor", "--check"}, p).rc == 4);
  with_monitor(fmt::format("monitor: {{since: 2026-01-01, max_error_rate: {}}}\n", rate2));
  CHECK(run_xops({"monitor", "--check"}, p).rc == 0);
  with_monitor("monitor: {since: 2026-01-01, min_feedback_mean: 0.51}\n");
  auto fb = run_xops({"monitor", "--check"}, p);
  CHECK(fb.rc == 4);
  CHECK_THAT(fb.err, Catch::Contains("m@v0.0.2: feedback mean 0.5 < 0.51"));
  // A misspelt threshold is an error, not an alert that never fires.
  with_monitor("monitor: {max_p95_latncy_ms: 10}\n");
  auto typo = run_xops({"monitor", "--check"}, p);
  CHECK(typo.rc != 0);
  CHECK_THAT(typo.err, Catch::Contains("unknown key 'max_p95_latncy_ms' in 'monitor'"));
}

namespace {

// Two days of traffic ending now: the first day's prompts 10-20 tokens; the second day's the
// same (control) or 30-50 (shifted). Answers alike on both days.
std::pair<std::vector<double>, std::vector<double>> two_days(const fs::path& p, bool shift) {
  std::vector<double> ref, cur;
  InteractionLog log(project_db(p), 0);
  std::mt19937 rng(11);
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (int i = 0; i < 2000; ++i) {
    bool second = i >= 1000;
    Interaction x;
    x.id = "cmpl-d" + std::to_string(i);
    x.route = "completions", x.model = "m", x.version = "m@v0.0.1", x.prompt = "p";
    x.output = "o", x.params = "{}", x.finish_reason = i % 10 ? "stop" : "length";
    // The shifted day also declines 3 requests in 20 (apostrophes of both kinds, any case).
    if (second && shift && i % 20 < 3)
      x.output = i % 20 == 0   ? "I'm sorry, I can't help with that."
                 : i % 20 == 1 ? "Sorry - I can\u2019t."
                               : "AS AN AI, I decline.";
    x.created_ms = now - 2 * 86400000LL + 60000 + (i % 1000) * 80000 + (second ? 86400000LL : 0);
    x.prompt_tokens = second && shift ? std::uniform_int_distribution<int>(30, 50)(rng)
                                      : std::uniform_int_distribution<int>(10, 20)(rng);
    x.completion_tokens = std::uniform_int_distribution<int>(5, 40)(rng);
    x.latency_ms = 100, x.ttft_ms = 10;
    log.record(x);
    (second ? cur : ref).push_back(static_cast<double>(x.prompt_tokens));
  }
  return {ref, cur};
}

double ks_by_hand(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (const auto* s : {&a, &b})
    for (double x : *s) {
      double fa = std::count_if(a.begin(), a.end(), [&](double v) { return v <= x; }) /
                  static_cast<double>(a.size());
      double fb = std::count_if(b.begin(), b.end(), [&](double v) { return v <= x; }) /
                  static_cast<double>(b.size());
      d = std::max(d, std::fabs(fa - fb));
    }
  return d;
}

}  // namespace

// One test case per set: on PostgreSQL each case has a database of its own.
void drift_case(bool shift) {
  {
    TempDir tmp;
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
    auto p = tmp / "p";
    auto [ref, cur] = two_days(p, shift);
    auto r = run_xops({"--json", "monitor", "--drift", "--since", "1d"}, p);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    auto d = json::parse(r.out)["drift"];
    const auto& prompt = d["figures"][0];
    REQUIRE(prompt["name"] == "prompt_tokens");
    CHECK(prompt["n_reference"] == 1000);
    CHECK(prompt["n_current"] == 1000);
    auto mean = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += x;
      return s / v.size();
    };
    CHECK(prompt["mean_reference"].get<double>() == Approx(mean(ref)));
    CHECK(prompt["mean_current"].get<double>() == Approx(mean(cur)));
    CHECK(prompt["ks"].get<double>() == Approx(ks_by_hand(ref, cur)));
    CHECK(prompt["drifted"] == shift);
    if (shift)
      CHECK(prompt["psi"].get<double>() > 1.0);
    else
      CHECK(prompt["psi"].get<double>() < 0.1);
    CHECK(d["figures"][1]["drifted"] == false);  // the answers did not move
    CHECK(d["truncated_share"]["current"].get<double>() == Approx(0.1));
    CHECK(d["refused_share"]["reference"].get<double>() == 0);
    CHECK(d["refused_share"]["current"].get<double>() == Approx(shift ? 0.15 : 0.0));
    // --check with max_psi: exit 4 on the shifted set only.
    write_text(p / "xops.yaml",
               read_text(p / "xops.yaml") + "monitor: {since: 1d, max_psi: 0.25}\n");
    auto check = run_xops({"monitor", "--check"}, p);
    CHECK(check.rc == (shift ? 4 : 0));
    if (shift) CHECK_THAT(check.err, Catch::Contains("prompt_tokens drifted: PSI"));
  }
}

TEST_CASE("monitor --drift: a shifted prompt distribution is found", "[e2e][monitor][serve]") {
  drift_case(true);
}

TEST_CASE("monitor --drift: a control set with no shift stays quiet", "[e2e][monitor][serve]") {
  drift_case(false);
}

// Prompt drift against an eval suite, embedded by the golden GPT-2 (its mean-pooled hidden
// states): served capital questions that the suite does not hold stay near its cases; served
// code does not, and the examples named are code. One project, two served versions.
TEST_CASE("monitor: prompt drift against the suite's cases in an embedding space",
          "[e2e][monitor][serve]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  std::vector<std::string> caps;
  {
    std::ifstream in(shared_dir() / "data/capitals.jsonl");
    for (std::string line; std::getline(in, line);)
      caps.push_back(json::parse(line)["prompt"].get<std::string>());
  }
  REQUIRE(caps.size() >= 120);
  std::string suite = "prompts: ['{{q}}']\nproviders: [echo]\ntests:\n";
  for (size_t i = 0; i < 20; ++i) suite += "  - vars: {q: " + json(caps[i]).dump() + "}\n";
  fs::create_directories(p / "evals");
  write_text(p / "evals/caps.yaml", suite);
  {
    InteractionLog log(project_db(p), 0);
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (int i = 0; i < 100; ++i)
      for (bool code : {false, true}) {
        Interaction x;
        x.id = fmt::format("cmpl-{}-{}", code ? "code" : "caps", i);
        x.route = "completions", x.model = "m", x.version = code ? "m@v0.0.2" : "m@v0.0.1";
        x.prompt =
            code ? fmt::format("def f{}(x):\n    return [i * {} for i in range(x) if i % 3]", i, i)
                 : caps[20 + i];
        x.output = "o", x.params = "{}", x.finish_reason = "stop", x.latency_ms = 10;
        x.created_ms = now - 1000 * (i + 1);
        log.record(x);
      }
  }
  const auto golden = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto drift = [&](const std::string& version) {
    auto r = run_xops({"--json", "monitor", version, "--since", "1d", "--suite", "evals/caps.yaml",
                       "--embedding", golden},
                      p);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return json::parse(r.out)["prompt_drift"];
  };
  auto control = drift("m@v0.0.1");
  CHECK(control["length"]["drifted"] == false);
  CHECK(control["n_reference"] == 20);
  CHECK(control["n_current"] == 100);
  CHECK(control["drifted"] == false);
  CHECK(control["p_value"].get<double>() > 0.05);
  auto shifted = drift("m@v0.0.2");
  CHECK(shifted["drifted"] == true);
  {  // prompt length in characters against the cases, computed again here
    double cases = 0, served = 0;
    for (size_t i = 0; i < 20; ++i)  // characters: bytes that start a UTF-8 sequence
      for (unsigned char c : caps[i]) cases += (c & 0xC0) != 0x80;
    for (int i = 0; i < 100; ++i)
      served += static_cast<double>(
          fmt::format("def f{}(x):\n    return [i * {} for i in range(x) if i % 3]", i, i).size());
    CHECK(shifted["length"]["mean_current"].get<double>() == Approx(served / 100));
    CHECK(shifted["length"]["n_reference"] == 20);
    CHECK(shifted["length"]["mean_reference"].get<double>() == Approx(cases / 20));
    CHECK(shifted["length"]["drifted"] == true);
  }
  CHECK(shifted["share_beyond"].get<double>() > 0.5);
  CHECK(shifted["p_value"].get<double>() < 1e-6);
  CHECK(shifted["centroid_distance"].get<double>() >
        10 * control["centroid_distance"].get<double>());
  REQUIRE(shifted["examples"].size() == 5);
  for (const auto& e : shifted["examples"]) {
    CHECK_THAT(e["prompt"].get<std::string>(), Catch::StartsWith("def f"));
    CHECK_THAT(e["nearest_case"].get<std::string>(), Catch::Contains("capital"));
  }
  // --check with monitor.max_prompt_drift: exit 4 for the code, 0 for the capitals.
  auto cfg = read_text(p / "xops.yaml");
  write_text(p / "xops.yaml",
             cfg + "monitor: {since: 1d, drift_suite: evals/caps.yaml, embedding: " + golden +
                 ", max_prompt_drift: 0.2}\n");
  auto crossed = run_xops({"monitor", "m@v0.0.2", "--check"}, p);
  CHECK(crossed.rc == 4);
  CHECK_THAT(crossed.err, Catch::Contains("served prompts drifted from"));
  auto quiet = run_xops({"monitor", "m@v0.0.1", "--check"}, p);
  INFO(quiet.err);
  CHECK(quiet.rc == 0);
  // A threshold with no suite to compare with is refused, not silently skipped.
  write_text(p / "xops.yaml", cfg + "monitor: {max_prompt_drift: 0.2}\n");
  auto refused = run_xops({"monitor", "--check"}, p);
  CHECK(refused.rc != 0);
  CHECK_THAT(refused.err, Catch::Contains("needs monitor.drift_suite"));
}
