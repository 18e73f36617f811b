#pragma once
// `xops monitor` as one use case: the project's interaction log summed up per version (or
// another grouping) over a window, and with `check` held to xops.yaml's `monitor:`
// thresholds. The command renders; tests call it directly.
#include <cstdint>
#include <string>
#include <vector>

#include <optional>

#include "core/monitor/alerts.hpp"
#include "core/monitor/drift.hpp"
#include "core/monitor/embedding_drift.hpp"
#include "core/monitor/traffic.hpp"
#include "core/tracking/interaction_log.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

struct MonitorRequest {
  std::string only;   // a served model id or version ("" = all)
  std::string since;  // a date or an age ("" = all traffic; with check: monitor.since)
  std::string by = "version";
  std::string per;  // day | hour: each group over time too (its series, each window beside the
                    // one before it); "" = none
  bool check = false;
  // Drift: the window since `since` (default monitor.since) against `reference` (a date or an
  // age: from then to the window's start; default the same length just before it).
  bool drift = false;
  std::string reference;
  // With drift: served prompts against this eval suite's cases in an embedding space
  // ("" = monitor.drift_suite), embedded by this provider ("" = monitor.embedding, then the
  // suite's defaultTest.options.provider.embedding).
  std::string suite, embedding;
  size_t max_prompts = 300;  // served prompts embedded (evenly spaced over the window)
};

// Prompt drift against the suite, with the texts of the examples.
struct PromptDrift {
  std::string suite, embedding;
  EmbeddingDrift stats;
  // Prompt length in characters: the suite's rendered cases against every served prompt of
  // the window (PSI, KS).
  DriftFigure length;
  struct Example {
    std::string prompt, nearest_case;  // the served prompt; its nearest suite case (rendered)
    double similarity = 0;
  };
  std::vector<Example> examples;
};

struct MonitorOutcome {
  int64_t since_ms = 0;
  std::vector<TrafficGroup> groups;
  std::vector<Alert> alerts;  // with check
  std::optional<DriftReport> drift;
  std::optional<PromptDrift> prompt_drift;
};

MonitorOutcome monitor_traffic(const Workspace& ws, const MonitorRequest& r, int64_t now_ms);

// `xops monitor feedback`: the feedback given in a window, newest first (optionally one score
// name, user or session), and each version's count and mean per score name.
struct FeedbackListRequest {
  std::string only, since, name, user, session;
  size_t limit = 50;
};
struct FeedbackListing {
  int64_t since_ms = 0;
  std::vector<FeedbackRow> rows;
  std::vector<TrafficGroup> versions;  // scores per version over the same window
  std::map<std::string, ScoreSpec> schema;
};
FeedbackListing monitor_feedback(const Workspace& ws, const FeedbackListRequest& r, int64_t now_ms);

}  // namespace xops::app
