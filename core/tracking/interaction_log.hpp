#pragma once
// `xops serve`'s interaction log in the tracking database: each request and its response,
// and the feedback clients post for it. `xops eval --from-logs` turns them into eval cases.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/db/database.hpp"

namespace xops {

struct Interaction {
  std::string id, route, model, adapter, version, model_hash, adapter_hash;
  std::string prompt;                         // the prompt text (chat: the rendered template)
  std::string messages;                       // chat: the messages as JSON; empty otherwise
  std::string output, params, finish_reason;  // params: the sampling parameters as JSON
  int64_t created_ms = 0, prompt_tokens = 0, completion_tokens = 0;
  double latency_ms = 0;
  std::optional<double> ttft_ms;
  // serve --shadow/--canary: "prod", "shadow" or "canary" ("" when one version serves); a
  // shadow answer's pair_id is the served response it shadows.
  std::string arm, pair_id;
  // The HTTP status the client got: 200, or a refusal (4xx: nothing generated, finish_reason
  // "") or a failure (499 cancelled, 500, 504); error: the OpenAI error code, e.g.
  // "context_length_exceeded" (output then holds the message).
  int status = 200;
  std::string error;
  std::string user;  // the request's `user` field
  // serve --index: what was retrieved into the context, as JSON ("" when nothing was).
  std::string retrieval;
  bool generated() const { return !finish_reason.empty(); }
};

struct Feedback {
  std::optional<double> score;
  std::string comment;
  int64_t created_ms = 0;
  std::string name = "score";  // the named score (xops.yaml's feedback: scores)
  std::string user, session;   // who gave it, in which session (optional)
  std::string interaction;     // read back: the interaction it is about
};

// The interaction a feedback was attached to (what /metrics labels feedback counters with).
struct FeedbackTarget {
  std::string version, adapter;
};

class InteractionLog {
 public:
  // retention_days > 0: interactions older than that are deleted now and as the log grows.
  InteractionLog(db::Database db, int retention_days);
  void record(const Interaction& i);  // thread-safe
  // false when no interaction has this id.
  bool add_feedback(const std::string& id, const Feedback& f);
  // Several named scores (and a comment) in one transaction; nullopt when no interaction has
  // this id.
  std::optional<FeedbackTarget> add_scores(const std::string& id, const std::vector<Feedback>& fs);
  const db::Database& db() const { return db_; }

 private:
  void prune();
  std::mutex mu_;
  db::Database db_;
  int retention_days_;
  uint64_t since_prune_ = 0;
};

struct LoggedInteraction {
  Interaction interaction;
  std::vector<Feedback> feedback;
  std::optional<double> mean_score() const;
};

// Interactions created at or after since_ms, oldest first, with their feedback; by default
// only those that generated (refused requests have nothing to replay or judge).
std::vector<LoggedInteraction> read_interactions(db::Database& db, int64_t since_ms,
                                                 bool generated_only = true);

// Feedback given at or after since_ms, newest first, at most `limit` rows, optionally only
// one score name, user or session; each with its interaction's version.
struct FeedbackQuery {
  int64_t since_ms = 0;
  std::string name, user, session, only;  // only: a served model id or version
  size_t limit = 100;
};
struct FeedbackRow {
  Feedback feedback;
  std::string version, adapter, model, prompt;
};
std::vector<FeedbackRow> read_feedback(db::Database& db, const FeedbackQuery& q);

// Copies interactions (by id) and their feedback (by content) from one tracking database into
// another, idempotently (`xops track sync`); the caller holds the transaction. This module
// owns both tables: serve writes them, --from-logs and monitoring read them, sync copies them.
struct InteractionCounts {
  int64_t interactions = 0, feedback = 0;  // new in the target
};
InteractionCounts copy_interactions(db::Database& from, db::Database& to);

}  // namespace xops
