#include "core/monitor/traffic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "core/error.hpp"

namespace xops {

double nearest_rank(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

namespace {

std::string utc(int64_t ms, const char* format) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

struct Acc {
  TrafficGroup g;
  std::vector<double> latency, ttft;
  double score_sum = 0;
};

Percentiles percentiles(std::vector<double>& v) {
  Percentiles p;
  p.n = v.size();
  p.p50 = nearest_rank(v, 50);
  p.p95 = nearest_rank(v, 95);
  p.p99 = nearest_rank(v, 99);
  return p;
}

}  // namespace

std::vector<TrafficGroup> traffic_stats(db::Database& db, const TrafficQuery& q) {
  static const char* kBy[] = {"version", "adapter", "route", "arm", "day", "hour"};
  if (std::find(std::begin(kBy), std::end(kBy), q.by) == std::end(kBy))
    throw usage_error(fmt::format("--by {}: not a grouping", q.by),
                      "version, adapter, route, arm, day or hour");
  // Feedback per interaction first (one row each), so the scan below stays one pass.
  auto st = db.prepare(
      "SELECT i.created_ms, i.model, i.version, i.adapter, i.route, i.arm, i.latency_ms, "
      "i.ttft_ms, i.prompt_tokens, i.completion_tokens, i.finish_reason, f.n, f.total "
      "FROM interactions i LEFT JOIN (SELECT interaction, COUNT(score) AS n, SUM(score) AS total "
      "FROM feedback GROUP BY interaction) f ON f.interaction = i.id "
      "WHERE i.created_ms >= ? ORDER BY i.created_ms");
  st.bind(1, q.since_ms);
  std::map<std::string, Acc> groups;
  while (st.step()) {
    auto model = st.text(1), version = st.text(2);
    if (!q.only.empty() && model != q.only && version != q.only &&
        version.rfind(q.only + "@", 0) != 0)
      continue;
    int64_t created = st.int64(0);
    std::string key = q.by == "version"   ? version
                      : q.by == "adapter" ? st.text(3)
                      : q.by == "route"   ? st.text(4)
                      : q.by == "arm"     ? st.text(5)
                      : q.by == "day"     ? utc(created, "%Y-%m-%d")
                                          : utc(created, "%Y-%m-%dT%H");
    if (key.empty()) key = "-";
    auto& a = groups[key];
    auto& g = a.g;
    if (!g.requests) g.key = key, g.first_ms = created;
    g.last_ms = created;
    ++g.requests;
    auto reason = st.text(10);
    ++g.finish_reasons[reason];
    if (reason == "error" || reason == "timeout") ++g.errors;
    if (reason == "cancelled") ++g.cancelled;
    double latency = st.real(6);
    a.latency.push_back(latency);
    if (!st.is_null(7)) {
      double ttft = st.real(7);
      if (ttft < 0 || ttft > latency + 1e-6)
        ++g.ttft_invalid;
      else
        a.ttft.push_back(ttft);
    }
    g.prompt_tokens += st.int64(8);
    g.completion_tokens += st.int64(9);
    if (!st.is_null(11) && st.int64(11) > 0) {
      g.feedback += static_cast<size_t>(st.int64(11));
      a.score_sum += st.real(12);
    }
  }
  std::vector<TrafficGroup> out;
  for (auto& [key, a] : groups) {
    auto g = a.g;
    g.latency_ms = percentiles(a.latency);
    g.ttft_ms = percentiles(a.ttft);
    if (g.feedback) g.feedback_mean = a.score_sum / static_cast<double>(g.feedback);
    double span_s = static_cast<double>(g.last_ms - g.first_ms) / 1000.0;
    g.tokens_per_s = span_s > 0 ? static_cast<double>(g.completion_tokens) / span_s : 0;
    out.push_back(std::move(g));
  }
  if (q.by != "day" && q.by != "hour")
    std::stable_sort(out.begin(), out.end(), [](const TrafficGroup& x, const TrafficGroup& y) {
      return x.first_ms < y.first_ms;
    });
  return out;
}

}  // namespace xops
