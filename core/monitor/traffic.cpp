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
  // Columns 0-5 of both scans: created_ms, model, version, adapter, route, arm. "" when the
  // row is not in q.only.
  auto key_of = [&](db::Statement& st) -> std::string {
    auto model = st.text(1), version = st.text(2);
    if (!q.only.empty() && model != q.only && version != q.only &&
        version.rfind(q.only + "@", 0) != 0)
      return {};
    int64_t created = st.int64(0);
    std::string key = q.by == "version"   ? version
                      : q.by == "adapter" ? st.text(3)
                      : q.by == "route"   ? st.text(4)
                      : q.by == "arm"     ? st.text(5)
                      : q.by == "day"     ? utc(created, "%Y-%m-%d")
                                          : utc(created, "%Y-%m-%dT%H");
    return key.empty() ? "-" : key;
  };
  auto st = db.prepare(
      "SELECT created_ms, model, version, adapter, route, arm, latency_ms, ttft_ms, "
      "prompt_tokens, completion_tokens, finish_reason, status, error FROM interactions "
      "WHERE created_ms >= ? ORDER BY created_ms");
  st.bind(1, q.since_ms);
  std::map<std::string, Acc> groups;
  while (st.step()) {
    auto key = key_of(st);
    if (key.empty()) continue;
    int64_t created = st.int64(0);
    auto& a = groups[key];
    auto& g = a.g;
    if (!g.requests) g.key = key, g.first_ms = created;
    g.last_ms = created;
    ++g.requests;
    auto reason = st.text(10);
    int status = static_cast<int>(st.int64(11));
    ++g.statuses[status];
    if (auto code = st.text(12); !code.empty()) ++g.error_codes[code];
    if (status == 499 || reason == "cancelled")
      ++g.cancelled;
    else if (status >= 500 || reason == "error" || reason == "timeout")
      ++g.errors;
    else if (status >= 400)
      ++g.refused;
    if (reason.empty()) continue;  // refused: nothing generated, no timings to speak of
    ++g.finish_reasons[reason];
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
  }
  // Feedback: a second scan (scores are far fewer than requests), each score by its name.
  auto fb = db.prepare(
      "SELECT i.created_ms, i.model, i.version, i.adapter, i.route, i.arm, f.name, f.score "
      "FROM feedback f JOIN interactions i ON i.id = f.interaction "
      "WHERE i.created_ms >= ? AND f.score IS NOT NULL");
  fb.bind(1, q.since_ms);
  std::map<std::string, std::map<std::string, double>> sums;
  while (fb.step()) {
    auto key = key_of(fb);
    auto it = groups.find(key);
    if (it == groups.end()) continue;
    auto& g = it->second.g;
    auto name = fb.text(6);
    double v = fb.real(7);
    auto& s = g.scores[name];
    s.min = s.n ? std::min(s.min, v) : v;
    s.max = s.n ? std::max(s.max, v) : v;
    ++s.n;
    sums[key][name] += v;
    ++g.feedback;
  }
  std::vector<TrafficGroup> out;
  for (auto& [key, a] : groups) {
    auto g = a.g;
    g.latency_ms = percentiles(a.latency);
    g.ttft_ms = percentiles(a.ttft);
    for (auto& [name, s] : g.scores) s.mean = sums[key][name] / static_cast<double>(s.n);
    if (auto it = g.scores.find("score"); it != g.scores.end()) g.feedback_mean = it->second.mean;
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
