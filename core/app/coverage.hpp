#pragma once
// `xops eval coverage SUITE` and `xops eval --from-logs --novel N`: the suite's cases and the
// served prompts (their user text) in one embedding space. Coverage: the share of traffic near
// some case, per version, and the uncovered clusters with example prompts. Novel: the logged
// interactions farthest from every case, badly scored ones first among near-equals, written
// as eval cases (what a new case would add that the suite lacks).
#include <cstdint>
#include <string>
#include <vector>

#include "core/monitor/coverage.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

struct CoverageRequest {
  std::string suite;
  std::string embedding;      // "" = the suite's defaultTest embedding, then monitor.embedding
  std::string since;          // a date or an age; "" = all
  std::string only;           // one served model or version
  double threshold = 0;       // <= 0: automatic (how near the suite's cases are to each other)
  size_t max_prompts = 2000;  // served prompts embedded (evenly spaced over the window)
  size_t clusters = 10, examples = 3;
};

struct CoverageReport {
  std::string suite, embedding;
  int64_t since_ms = 0;
  size_t cases = 0, logged = 0;  // logged: interactions in the window (before sampling)
  Coverage stats;
  std::vector<std::string> case_texts, prompt_texts, prompt_ids;
};

CoverageReport eval_coverage(const Workspace& ws, const CoverageRequest& r, int64_t now_ms);

struct NovelPick {
  std::string interaction;
  double similarity = 0;  // to the nearest case
  std::string nearest_case;
};
// The n most novel logged interactions (generated ones, shadows left out).
std::vector<NovelPick> novel_interactions(const Workspace& ws, const CoverageRequest& r, size_t n,
                                          int64_t now_ms);

// The text a user wrote: a chat's last user message (logged messages, or a JSON chat prompt),
// else the text itself.
std::string user_text(const std::string& prompt, const std::string& messages_json);

}  // namespace xops::app
