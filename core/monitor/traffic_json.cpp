#include "core/monitor/traffic_json.hpp"

namespace xops {

using nlohmann::json;

namespace {

json percentiles_json(const Percentiles& p) {
  if (!p.n) return nullptr;
  return {{"n", p.n}, {"p50", p.p50}, {"p95", p.p95}, {"p99", p.p99}};
}

json scores_json(const TrafficGroup& g) {
  json j = json::object();
  for (const auto& [name, s] : g.scores)
    j[name] = {{"n", s.n}, {"mean", s.mean}, {"min", s.min}, {"max", s.max}};
  return j;
}

}  // namespace

json traffic_group_json(const TrafficGroup& g, const TrafficGroup* prev) {
  json fr = json::object(), statuses = json::object(), codes = json::object();
  for (const auto& [k, n] : g.finish_reasons) fr[k] = n;
  for (const auto& [k, n] : g.statuses) statuses[std::to_string(k)] = n;
  for (const auto& [k, n] : g.error_codes) codes[k] = n;
  json j = {{"key", g.key},
            {"first_ms", g.first_ms},
            {"last_ms", g.last_ms},
            {"requests", g.requests},
            {"errors", g.errors},
            {"error_rate", g.error_rate()},
            {"refused", g.refused},
            {"cancelled", g.cancelled},
            {"statuses", statuses},
            {"error_codes", codes},
            {"finish_reasons", fr},
            {"latency_ms", percentiles_json(g.latency_ms)},
            {"ttft_ms", percentiles_json(g.ttft_ms)},
            {"ttft_invalid", g.ttft_invalid},
            {"prompt_tokens", g.prompt_tokens},
            {"completion_tokens", g.completion_tokens},
            {"tokens_per_s", g.tokens_per_s},
            {"feedback", g.feedback},
            {"feedback_mean", g.feedback_mean ? json(*g.feedback_mean) : json(nullptr)},
            {"scores", scores_json(g)}};
  if (prev)
    j["change"] = {{"from", prev->key},
                   {"p95_latency_ratio", prev->latency_ms.p95 > 0 && g.latency_ms.n
                                             ? json(g.latency_ms.p95 / prev->latency_ms.p95)
                                             : json(nullptr)},
                   {"error_rate_delta", g.error_rate() - prev->error_rate()},
                   {"feedback_mean_delta", g.feedback_mean && prev->feedback_mean
                                               ? json(*g.feedback_mean - *prev->feedback_mean)
                                               : json(nullptr)}};
  return j;
}

}  // namespace xops
