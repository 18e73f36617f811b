#include "core/app/coverage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/app/embedders.hpp"
#include "core/error.hpp"
#include "core/eval/from_logs.hpp"
#include "core/eval/suite.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/tracking_db.hpp"

namespace xops::app {

namespace {

struct Embedded {
  std::string embedding;
  std::vector<std::string> cases;
  std::vector<std::vector<float>> case_vectors;
  std::vector<LoggedInteraction> logged;
  size_t window = 0;
};

// Normalised feedback of an interaction: each score mapped to [0, 1] by its declared range,
// averaged; NaN when it has none.
double normalised_feedback(const LoggedInteraction& l, const Workspace& ws) {
  double sum = 0;
  int n = 0;
  for (const auto& f : l.feedback) {
    if (!f.score) continue;
    auto it = ws.config().feedback_scores.find(f.name);
    double lo = it != ws.config().feedback_scores.end() ? it->second.min : 0,
           hi = it != ws.config().feedback_scores.end() ? it->second.max : 1;
    if (hi <= lo) continue;
    sum += std::clamp((*f.score - lo) / (hi - lo), 0.0, 1.0);
    ++n;
  }
  return n ? sum / n : std::nan("");
}

Embedded load(const Workspace& ws, const CoverageRequest& r, int64_t now_ms,
              std::unique_ptr<index::Embedder>& emb) {
  Embedded e;
  std::vector<std::string> warnings;
  auto suite = load_suite(r.suite, &warnings);
  e.embedding = !r.embedding.empty()       ? r.embedding
                : !suite.embedding.empty() ? suite.embedding
                                           : ws.config().monitor.embedding;
  if (e.embedding.empty())
    throw usage_error(
        "coverage needs an embedding model",
        "--embedding MODEL_OR_REF (a sentence encoder, a local model, or openai:embedding:MODEL)");
  for (const auto& t : suite.tests)
    for (const auto& p : suite.prompts)
      e.cases.push_back(user_text(render_prompt(p, t.values), ""));
  if (e.cases.empty()) throw usage_error(fmt::format("{} has no cases", r.suite));
  auto where = tracking_location(ws);
  if (!db::Database::is_postgres_url(where.url) && !std::filesystem::exists(where.url))
    throw precondition_error("no interactions logged in this project yet",
                             "xops serve MODEL here logs them");
  auto db = open_tracking_db(ws);
  int64_t since = r.since.empty() ? 0 : parse_since(r.since, now_ms);
  for (auto& l : read_interactions(db, since)) {
    const auto& i = l.interaction;
    if (i.arm == "shadow") continue;  // not what users got
    if (!r.only.empty() && i.model != r.only && i.version != r.only &&
        i.version.rfind(r.only + "@", 0) != 0)
      continue;
    e.logged.push_back(std::move(l));
  }
  e.window = e.logged.size();
  if (e.logged.size() > r.max_prompts) {  // evenly spaced: every part of the window is seen
    std::vector<LoggedInteraction> picked;
    for (size_t k = 0; k < r.max_prompts; ++k)
      picked.push_back(e.logged[k * e.logged.size() / r.max_prompts]);
    e.logged.swap(picked);
  }
  emb = open_embedder(e.embedding, &ws);
  e.case_vectors = emb->embed(e.cases);
  return e;
}

std::vector<std::vector<float>> embed_prompts(index::Embedder& emb,
                                              const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  const size_t batch = 64;
  for (size_t i = 0; i < texts.size(); i += batch) {
    std::vector<std::string> part(
        texts.begin() + static_cast<std::ptrdiff_t>(i),
        texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), i + batch)));
    for (auto& v : emb.embed(part)) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

std::string user_text(const std::string& prompt, const std::string& messages_json) {
  const std::string& src = !messages_json.empty() ? messages_json : prompt;
  auto first = src.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || src[first] != '[') return prompt;
  auto j = nlohmann::json::parse(src, nullptr, false);
  if (!j.is_array()) return prompt;
  for (auto it = j.rbegin(); it != j.rend(); ++it)
    if (it->is_object() && it->value("role", "") == "user" && (*it)["content"].is_string())
      return (*it)["content"].get<std::string>();
  return prompt;
}

CoverageReport eval_coverage(const Workspace& ws, const CoverageRequest& r, int64_t now_ms) {
  std::unique_ptr<index::Embedder> emb;
  auto e = load(ws, r, now_ms, emb);
  CoverageReport rep;
  rep.suite = r.suite;
  rep.embedding = e.embedding;
  rep.since_ms = r.since.empty() ? 0 : parse_since(r.since, now_ms);
  rep.cases = e.cases.size();
  rep.logged = e.window;
  rep.case_texts = e.cases;
  std::vector<std::string> groups;
  for (const auto& l : e.logged) {
    rep.prompt_texts.push_back(user_text(l.interaction.prompt, l.interaction.messages));
    rep.prompt_ids.push_back(l.interaction.id);
    groups.push_back(l.interaction.version.empty() ? l.interaction.model : l.interaction.version);
  }
  auto vecs = embed_prompts(*emb, rep.prompt_texts);
  rep.stats = coverage(e.case_vectors, vecs, groups, r.threshold, r.clusters);
  return rep;
}

std::vector<NovelPick> novel_interactions(const Workspace& ws, const CoverageRequest& r, size_t n,
                                          int64_t now_ms) {
  std::unique_ptr<index::Embedder> emb;
  auto e = load(ws, r, now_ms, emb);
  std::vector<std::string> texts;
  std::vector<double> scores;
  for (const auto& l : e.logged) {
    texts.push_back(user_text(l.interaction.prompt, l.interaction.messages));
    scores.push_back(normalised_feedback(l, ws));
  }
  auto vecs = embed_prompts(*emb, texts);
  auto stats = coverage(e.case_vectors, vecs, {},
                        r.threshold <= 0 && e.cases.size() < 2 ? 1.0 : r.threshold, 0);
  std::vector<NovelPick> out;
  for (size_t i : most_novel(stats.nearest, scores, n))
    out.push_back({e.logged[i].interaction.id, stats.nearest[i], e.cases[stats.nearest_case[i]]});
  return out;
}

}  // namespace xops::app
