#include "core/tracking/interaction_log.hpp"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "core/util/utf8.hpp"

namespace xops {

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
// Text as the client received it: the API's JSON replaces bytes that are not UTF-8 (a token
// cut mid-character) with U+FFFD, and PostgreSQL refuses such bytes in TEXT (the row, and the
// response's record, was lost). Both backends keep the same text, so a sync copies it intact.
std::string as_sent(const std::string& s) {
  if (invalid_utf8_offset(s) == std::string::npos) return s;
  return nlohmann::json::parse(
             nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}
}  // namespace

InteractionLog::InteractionLog(db::Database db, int retention_days)
    : db_(std::move(db)), retention_days_(retention_days) {
  prune();
}

void InteractionLog::prune() {
  if (retention_days_ <= 0) return;
  auto st = db_.prepare("DELETE FROM interactions WHERE created_ms < ?");
  st.bind(1, now_ms() - static_cast<int64_t>(retention_days_) * 86400000);
  st.step();
}

void InteractionLog::record(const Interaction& raw) {
  Interaction i = raw;
  i.prompt = as_sent(i.prompt);
  i.output = as_sent(i.output);
  i.messages = as_sent(i.messages);
  i.user = as_sent(i.user);
  std::lock_guard<std::mutex> lk(mu_);
  auto st = db_.prepare(
      "INSERT INTO interactions (id, created_ms, route, model, adapter, version, model_hash, "
      "adapter_hash, prompt, "
      "messages, output, params, finish_reason, prompt_tokens, completion_tokens, latency_ms, "
      "ttft_ms, arm, pair_id, status, error, user_id, retrieval) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, i.id)
      .bind(2, i.created_ms ? i.created_ms : now_ms())
      .bind(3, i.route)
      .bind(4, i.model);
  st.bind(5, i.adapter)
      .bind(6, i.version)
      .bind(7, i.model_hash)
      .bind(8, i.adapter_hash)
      .bind(9, i.prompt);
  if (i.messages.empty())
    st.bind_null(10);
  else
    st.bind(10, i.messages);
  st.bind(11, i.output).bind(12, i.params).bind(13, i.finish_reason).bind(14, i.prompt_tokens);
  st.bind(15, i.completion_tokens).bind(16, i.latency_ms);
  if (i.ttft_ms)
    st.bind(17, *i.ttft_ms);
  else
    st.bind_null(17);
  st.bind(18, i.arm).bind(19, i.pair_id).bind(20, int64_t{i.status}).bind(21, i.error);
  st.bind(22, i.user).bind(23, i.retrieval);
  st.step();
  if (++since_prune_ >= 1000) {
    since_prune_ = 0;
    prune();
  }
}

bool InteractionLog::add_feedback(const std::string& id, const Feedback& f) {
  return add_scores(id, {f}).has_value();
}

std::optional<FeedbackTarget> InteractionLog::add_scores(const std::string& id,
                                                         const std::vector<Feedback>& fs) {
  std::lock_guard<std::mutex> lk(mu_);
  db::Database::Transaction tx(db_);
  auto q = db_.prepare("SELECT version, adapter FROM interactions WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  FeedbackTarget t{q.text(0), q.text(1)};
  auto st = db_.prepare(
      "INSERT INTO feedback (interaction, created_ms, score, comment, name, user_id, session_id) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  for (const auto& f : fs) {
    st.bind(1, id).bind(2, f.created_ms ? f.created_ms : now_ms());
    if (f.score)
      st.bind(3, *f.score);
    else
      st.bind_null(3);
    st.bind(4, as_sent(f.comment)).bind(5, as_sent(f.name)).bind(6, as_sent(f.user));
    st.bind(7, as_sent(f.session));
    st.step();
    st.reset();
  }
  tx.commit();
  return t;
}

std::optional<double> LoggedInteraction::mean_score() const {
  double sum = 0;
  int n = 0;
  for (const auto& f : feedback)
    if (f.score) sum += *f.score, ++n;
  if (!n) return std::nullopt;
  return sum / n;
}

std::vector<LoggedInteraction> read_interactions(db::Database& db, int64_t since_ms,
                                                 bool generated_only) {
  std::vector<LoggedInteraction> out;
  std::map<std::string, size_t> at;
  auto st = db.prepare(
      std::string("SELECT id, created_ms, route, model, adapter, version, model_hash, "
                  "adapter_hash, prompt, messages, output, params, finish_reason, "
                  "prompt_tokens, completion_tokens, latency_ms, ttft_ms, arm, pair_id, "
                  "status, error, user_id, retrieval FROM interactions WHERE created_ms >= ? ") +
      (generated_only ? "AND finish_reason <> '' " : "") + "ORDER BY created_ms, id");
  st.bind(1, since_ms);
  while (st.step()) {
    LoggedInteraction l;
    auto& i = l.interaction;
    i.id = st.text(0);
    i.created_ms = st.int64(1);
    i.route = st.text(2), i.model = st.text(3), i.adapter = st.text(4), i.version = st.text(5);
    i.model_hash = st.text(6), i.adapter_hash = st.text(7), i.prompt = st.text(8);
    i.messages = st.is_null(9) ? "" : st.text(9);
    i.output = st.text(10), i.params = st.text(11), i.finish_reason = st.text(12);
    i.prompt_tokens = st.int64(13), i.completion_tokens = st.int64(14);
    i.latency_ms = st.real(15);
    if (!st.is_null(16)) i.ttft_ms = st.real(16);
    i.arm = st.text(17), i.pair_id = st.text(18);
    i.status = static_cast<int>(st.int64(19));
    i.error = st.text(20), i.user = st.text(21), i.retrieval = st.text(22);
    at[i.id] = out.size();
    out.push_back(std::move(l));
  }
  auto fb = db.prepare(
      "SELECT f.interaction, f.created_ms, f.score, f.comment, f.name, f.user_id, f.session_id "
      "FROM feedback f JOIN interactions i ON i.id = f.interaction WHERE i.created_ms >= ? "
      "ORDER BY f.created_ms");
  fb.bind(1, since_ms);
  while (fb.step()) {
    auto it = at.find(fb.text(0));
    if (it == at.end()) continue;
    Feedback f;
    f.created_ms = fb.int64(1);
    if (!fb.is_null(2)) f.score = fb.real(2);
    f.comment = fb.text(3);
    f.name = fb.text(4), f.user = fb.text(5), f.session = fb.text(6);
    f.interaction = fb.text(0);
    out[it->second].feedback.push_back(std::move(f));
  }
  return out;
}

std::vector<FeedbackRow> read_feedback(db::Database& db, const FeedbackQuery& q) {
  std::string sql =
      "SELECT f.interaction, f.created_ms, f.score, f.comment, f.name, f.user_id, f.session_id, "
      "i.version, i.adapter, i.model, i.prompt FROM feedback f JOIN interactions i ON i.id = "
      "f.interaction WHERE f.created_ms >= ?";
  std::vector<std::string> args;
  auto eq = [&](const char* column, const std::string& v) {
    if (v.empty()) return;
    sql += fmt::format(" AND {} = ?", column);
    args.push_back(v);
  };
  eq("f.name", q.name);
  eq("f.user_id", q.user);
  eq("f.session_id", q.session);
  if (!q.only.empty()) {
    sql += " AND (i.model = ? OR i.version = ? OR i.version LIKE ?)";
    args.insert(args.end(), {q.only, q.only, q.only + "@%"});
  }
  sql += " ORDER BY f.created_ms DESC, f.interaction LIMIT ?";
  auto st = db.prepare(sql);
  st.bind(1, q.since_ms);
  int at = 2;
  for (const auto& a : args) st.bind(at++, a);
  st.bind(at, static_cast<int64_t>(q.limit));
  std::vector<FeedbackRow> out;
  while (st.step()) {
    FeedbackRow r;
    auto& f = r.feedback;
    f.interaction = st.text(0);
    f.created_ms = st.int64(1);
    if (!st.is_null(2)) f.score = st.real(2);
    f.comment = st.text(3), f.name = st.text(4), f.user = st.text(5), f.session = st.text(6);
    r.version = st.text(7), r.adapter = st.text(8), r.model = st.text(9), r.prompt = st.text(10);
    out.push_back(std::move(r));
  }
  return out;
}

InteractionCounts copy_interactions(db::Database& from, db::Database& to) {
  InteractionCounts n;
  auto in = from.prepare(
      "SELECT id, created_ms, route, model, adapter, version, model_hash, adapter_hash, prompt, "
      "messages, output, "
      "params, finish_reason, prompt_tokens, completion_tokens, latency_ms, ttft_ms, arm, "
      "pair_id, status, error, user_id, retrieval FROM interactions ORDER BY id");
  auto ins = to.prepare(
      "INSERT INTO interactions(id, created_ms, route, model, adapter, version, model_hash, "
      "adapter_hash, prompt, "
      "messages, output, params, finish_reason, prompt_tokens, completion_tokens, latency_ms, "
      "ttft_ms, arm, pair_id, status, error, user_id, retrieval) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING "
      "RETURNING "
      "id");
  while (in.step()) {
    ins.bind(1, in.text(0)).bind(2, in.int64(1));
    for (int c = 2; c <= 12; ++c) {  // route ... finish_reason; messages may be NULL
      if (in.is_null(c))
        ins.bind_null(c + 1);
      else
        ins.bind(c + 1, in.text(c));
    }
    ins.bind(14, in.int64(13)).bind(15, in.int64(14)).bind(16, in.real(15));
    if (in.is_null(16))
      ins.bind_null(17);
    else
      ins.bind(17, in.real(16));
    ins.bind(18, in.text(17)).bind(19, in.text(18)).bind(20, in.int64(19)).bind(21, in.text(20));
    ins.bind(22, in.text(21)).bind(23, in.text(22));
    if (ins.step()) ++n.interactions;
    ins.reset();
  }
  auto fb = from.prepare(
      "SELECT interaction, created_ms, score, comment, name, user_id, session_id FROM feedback "
      "ORDER BY created_ms");
  auto has = to.prepare(
      "SELECT 1 FROM feedback WHERE interaction = ? AND created_ms = ? AND comment = ? AND "
      "(score = ? OR (score IS NULL AND ? = 1)) AND name = ?");
  auto add = to.prepare(
      "INSERT INTO feedback(interaction, created_ms, score, comment, name, user_id, session_id) "
      "VALUES (?,?,?,?,?,?,?)");
  while (fb.step()) {
    double score = fb.is_null(2) ? 0 : fb.real(2);
    has.bind(1, fb.text(0)).bind(2, fb.int64(1)).bind(3, fb.text(3)).bind(4, score);
    has.bind(5, int64_t{fb.is_null(2)}).bind(6, fb.text(4));
    bool present = has.step();
    has.reset();
    if (present) continue;
    add.bind(1, fb.text(0)).bind(2, fb.int64(1));
    if (fb.is_null(2))
      add.bind_null(3);
    else
      add.bind(3, score);
    add.bind(4, fb.text(3)).bind(5, fb.text(4)).bind(6, fb.text(5)).bind(7, fb.text(6)).step();
    add.reset();
    ++n.feedback;
  }
  return n;
}

}  // namespace xops
