#pragma once
// `xops eval --from-logs`: logged serve traffic and its feedback become eval cases in
// promptfoo's test shape (one JSON object per line), closing the loop from production back
// to evaluation and to the next fine-tuning set.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/db/database.hpp"

namespace xops {

struct FromLogsOptions {
  int64_t since_ms = 0;
  // min_score: keep interactions whose mean feedback score is at least this; each case asserts
  // the logged answer again (equals). max_score: keep those at most this; each asserts the
  // answer does not come back (not-equals) and, when the feedback has a comment, that the new
  // answer takes it into account (feedback-addressed, judged). Neither: every interaction, no
  // assertion.
  std::optional<double> min_score, max_score;
  // --novel: only these interactions, in this order, each with its similarity to the nearest
  // suite case (metadata.novelty).
  std::vector<std::string> ids;
  std::map<std::string, double> nearest_similarity;
};

// The cases, one JSON text each; `vars.prompt` is the text the model read (for chat, the
// rendered template; `vars.messages` holds the messages).
std::vector<std::string> cases_from_logs(db::Database& db, const FromLogsOptions& o);

// "2026-12-01", "2026-12-01T08:30:00" (UTC), or an age: "30m", "24h", "7d". Throws Error(Usage).
int64_t parse_since(const std::string& s, int64_t now_ms);

}  // namespace xops
