#pragma once
// What `xops serve` logged, summed up: per version (or adapter, route, arm, day, hour) the
// requests, errors, cancellations, finish reasons, latency and time-to-first-token
// percentiles, tokens in and out, throughput and feedback, each group beside the one before
// it. Reads only the columns it needs (never prompts or answers), so a million interactions
// stay a scan of numbers. Works on the SQLite log and on PostgreSQL (several servers' traffic).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/db/database.hpp"

namespace xops {

struct TrafficQuery {
  int64_t since_ms = 0;
  std::string by = "version";  // version | adapter | route | arm | day | hour
  std::string only;            // a served model id or version ("" = all traffic)
  // A second grouping inside each group (e.g. version, then hour): TrafficGroup::series, in
  // the same single scan. "" = none.
  std::string then;
};

// Nearest-rank percentiles (the smallest value with at least p% of the values at or below
// it), over the requests that have the figure.
struct Percentiles {
  size_t n = 0;
  double p50 = 0, p95 = 0, p99 = 0;
};

// One named feedback score (xops.yaml's feedback: scores) over a group.
struct ScoreStats {
  size_t n = 0;
  double mean = 0, min = 0, max = 0;
};

struct TrafficGroup {
  std::string key;
  int64_t first_ms = 0, last_ms = 0;
  // errors: the server failed (5xx, or a generation that ended in error or timeout); refused:
  // the request was turned away (4xx: bad request, unknown model, queue full, no key);
  // cancelled: the client left (499).
  size_t requests = 0, errors = 0, refused = 0, cancelled = 0;
  std::map<int, size_t> statuses;             // HTTP status -> requests
  std::map<std::string, size_t> error_codes;  // e.g. context_length_exceeded -> requests
  std::map<std::string, size_t> finish_reasons;
  // Over the requests that generated (a refusal's few microseconds would drag them down).
  Percentiles latency_ms, ttft_ms;
  // TTFT values that cannot be (negative, or above the request's own latency): counted, and
  // left out of the percentiles.
  size_t ttft_invalid = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double tokens_per_s = 0;  // completion tokens over the group's time span (first to last)
  size_t feedback = 0;      // scores given, every name
  std::map<std::string, ScoreStats> scores;  // per score name
  std::optional<double> feedback_mean;       // of the default score ("score")
  std::vector<TrafficGroup> series;          // TrafficQuery::then's groups, in key order
  double error_rate() const { return requests ? double(errors) / double(requests) : 0; }
};

// Groups in time order of their first request (day and hour: in calendar order).
std::vector<TrafficGroup> traffic_stats(db::Database& db, const TrafficQuery& q);

// Nearest-rank percentile of `v` (sorted in place); 0 when empty.
double nearest_rank(std::vector<double>& v, double p);

}  // namespace xops
