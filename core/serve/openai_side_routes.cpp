// The routes beside generation: POST /v1/embeddings, POST /v1/feedback and GET /metrics.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "core/engine/language_model.hpp"
#include "core/error.hpp"
#include "core/serve/openai_api.hpp"
#include "core/serve/openai_request.hpp"
#include "core/serve/scheduler.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/util/json_error.hpp"

namespace xops {

using nlohmann::json;

namespace {
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

http::ServerReply OpenAiApi::embeddings(const Backend& b, const http::ServerRequest& hr) {
  auto& model = *b->model;
  json body = parse_body(hr.body);
  if (!body.contains("input")) throw bad("'input' is required", "input");
  std::vector<std::string> inputs;
  if (body["input"].is_string())
    inputs.push_back(body["input"].get<std::string>());
  else if (body["input"].is_array() && !body["input"].empty() && body["input"].size() <= 256) {
    for (const auto& x : body["input"]) {
      if (!x.is_string()) throw bad("'input' must be a string or a list of strings", "input");
      inputs.push_back(x.get<std::string>());
    }
  } else {
    throw bad("'input' must be a string or a list of 1-256 strings", "input");
  }
  json data = json::array();
  size_t tokens = 0;
  auto asked = body.contains("model") && body["model"].is_string()
                   ? body["model"].get<std::string>()
                   : std::string();
  if (o_.embed_texts && (asked.empty() || asked == o_.embedding_model)) {
    // The sentence encoder (serve --embedding): one batched call; longer inputs are refused,
    // as OpenAI does, rather than silently truncated.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].empty()) throw bad(fmt::format("input {} is empty", i), "input");
      size_t n = o_.count_embedding_tokens ? o_.count_embedding_tokens(inputs[i]) : 0;
      if (o_.embedding_max_tokens > 0 && n > static_cast<size_t>(o_.embedding_max_tokens))
        throw ApiError{400,
                       fmt::format("input {} has {} tokens; the embedding model takes {}", i, n,
                                   o_.embedding_max_tokens),
                       "input", "context_length_exceeded"};
      tokens += n;
    }
    auto vecs = o_.embed_texts(inputs);
    for (size_t i = 0; i < vecs.size(); ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", vecs[i]}});
    http::ServerReply r;
    r.body = dump({{"object", "list"},
                   {"data", data},
                   {"model", o_.embedding_model},
                   {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
    return r;
  }
  static std::mutex one_at_a_time;  // the decoder thread shares the weights; embeddings queue here
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto ids = model.tokenizer().encode(inputs[i]);
    if (ids.empty()) throw bad(fmt::format("input {} is empty", i), "input");
    if (ids.size() > static_cast<size_t>(model.config().max_positions))
      throw ApiError{400,
                     fmt::format("input {} has {} tokens; the model takes {}", i, ids.size(),
                                 model.config().max_positions),
                     "input", "context_length_exceeded"};
    tokens += ids.size();
    std::vector<float> v;
    {
      std::lock_guard<std::mutex> lk(one_at_a_time);
      v = model.embed(ids);
    }
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", v}});
  }
  http::ServerReply r;
  r.body = dump({{"object", "list"},
                 {"data", data},
                 {"model", o_.model_id},
                 {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
  return r;
}

// POST /v1/feedback {"id": RESPONSE_ID, "score": N?, "name": NAME?, "scores": {NAME: N}?,
// "comment": STRING?, "user": STRING?, "session": STRING?}. Each score must be one xops.yaml
// declares (feedback: scores; undeclared: "score", a fraction 0..1) and within its range, so
// a 5 on a 0..1 scale or a typo'd name never reaches a mean.
http::ServerReply OpenAiApi::feedback(const http::ServerRequest& hr) {
  json body = parse_body(hr.body);
  static const std::set<std::string> kKeys{"id",      "score", "name",   "scores",
                                           "comment", "user",  "session"};
  for (const auto& [k, v] : body.items())
    if (!kKeys.count(k))
      throw bad(fmt::format("unknown field '{}'", escape_control(k.substr(0, 64))),
                k.substr(0, 64));
  if (!body.contains("id") || !body["id"].is_string())
    throw bad("'id' (a response id) is required", "id");
  auto text = [&](const char* key, size_t max) {
    if (!body.contains(key) || body[key].is_null()) return std::string();
    if (!body[key].is_string()) throw bad(fmt::format("'{}' must be a string", key), key);
    auto v = body[key].get<std::string>();
    if (v.size() > max) throw bad(fmt::format("'{}' is longer than {} bytes", key, max), key);
    return v;
  };
  auto declared = [&] {
    std::vector<std::string> names;
    for (const auto& [n, spec] : o_.feedback_scores)
      names.push_back(fmt::format("{} ({:g}..{:g}{})", n, spec.min, spec.max,
                                  spec.integer ? ", whole numbers" : ""));
    return fmt::format("{}", fmt::join(names, ", "));
  };
  std::vector<Feedback> scores;
  auto add_score = [&](const std::string& name, const json& v, const std::string& param) {
    auto spec = o_.feedback_scores.find(name);
    if (spec == o_.feedback_scores.end())
      throw bad(fmt::format("no feedback score is named '{}'; this server takes: {}",
                            escape_control(name.substr(0, 64)), declared()),
                param);
    if (!v.is_number())
      throw bad(fmt::format("'{}' must be a number", escape_control(param)), param);
    double x = v.get<double>();
    const auto& r = spec->second;
    if (!std::isfinite(x) || x < r.min || x > r.max)
      throw bad(
          fmt::format("'{}' must be between {:g} and {:g}", escape_control(param), r.min, r.max),
          param);
    if (r.integer && x != std::floor(x))
      throw bad(fmt::format("'{}' must be a whole number", escape_control(param)), param);
    Feedback f;
    f.name = name;
    f.score = x;
    scores.push_back(std::move(f));
  };
  auto name = text("name", 64);
  if (body.contains("score") && !body["score"].is_null())
    add_score(name.empty() ? "score" : name, body["score"], "score");
  else if (!name.empty())
    throw bad("'name' names the 'score' that follows it; give a 'score' too", "name");
  if (body.contains("scores") && !body["scores"].is_null()) {
    if (!body["scores"].is_object() || body["scores"].empty())
      throw bad("'scores' must be an object of NAME: number", "scores");
    for (const auto& [n, v] : body["scores"].items()) add_score(n, v, "scores." + n);
  }
  Feedback common;
  common.comment = text("comment", 65536);
  common.user = text("user", 256);
  common.session = text("session", 256);
  if (scores.empty() && common.comment.empty())
    throw bad("give a 'score' (or 'scores'), a 'comment' or both");
  if (scores.empty()) {  // a comment alone: one row without a score
    scores.emplace_back();
    scores.back().name = "";
  }
  for (auto& f : scores) {
    f.user = common.user;
    f.session = common.session;
  }
  scores.front().comment = common.comment;
  if (!o_.log)
    throw bad("this server does not log interactions (started with --no-log or outside a project)");
  auto id = body["id"].get<std::string>();
  auto target = o_.log->add_scores(id, scores);
  if (!target)
    throw ApiError{404, fmt::format("no logged response has id '{}'", escape_control(id)), "id",
                   "not_found"};
  for (const auto& f : scores)
    if (f.score) metrics_.feedback(f.name, target->version, target->adapter, *f.score);
  json recorded = json::object();
  for (const auto& f : scores)
    if (f.score) recorded[f.name] = *f.score;
  http::ServerReply r;
  r.body = dump({{"id", id}, {"object", "feedback"}, {"recorded", true}, {"scores", recorded}});
  return r;
}

http::ServerReply OpenAiApi::render_metrics(const Backend& b) const {
  std::string out = metrics_.render_counters();
  out += metrics_.ttft.render("xops_time_to_first_token_seconds",
                              "Time from request to its first token.");
  out += metrics_.itl.render("xops_inter_token_latency_seconds",
                             "Time between consecutive tokens of a request.");
  out += metrics_.request_seconds.render("xops_request_duration_seconds",
                                         "Time from request to its last token.");
  auto gauge = [&](const char* name, const char* help, const std::string& value,
                   const char* type = "gauge") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  gauge("xops_interaction_log_failures_total",
        "Responses sent that the interaction log could not record.",
        std::to_string(metrics_.log_failures.load()), "counter");
  if (o_.compare != ApiOptions::Compare::None) {
    gauge("xops_shadow_started_total", "Requests the shadow version also answered (logged only).",
          std::to_string(metrics_.shadow_started.load()), "counter");
    gauge("xops_shadow_dropped_total",
          "Requests the shadow skipped: its queue was full or the request did not fit it.",
          std::to_string(metrics_.shadow_dropped.load()), "counter");
    gauge("xops_canary_requests_total", "Requests the canary version answered.",
          std::to_string(metrics_.canary_requests.load()), "counter");
  }
  bool ready = b != nullptr;
  if (ready) {
    auto c = b->scheduler->counters();
    gauge("xops_queue_depth", "Requests waiting for a decoder slot.", std::to_string(c.queued));
    gauge("xops_running_sequences", "Sequences in the decode batch.", std::to_string(c.running));
    gauge("xops_kv_cache_bytes_in_use", "KV memory holding tokens.",
          std::to_string(c.kv_bytes_in_use));
    gauge("xops_kv_cache_bytes_reserved", "KV memory preallocated for all slots.",
          std::to_string(c.kv_bytes_reserved));
    gauge("xops_decoder_steps_total", "Forward passes of the decoder (every version served).",
          std::to_string(c.decoder.steps + metrics_.retired->steps.load()), "counter");
    gauge("xops_decoder_batched_steps_total", "Forward passes that carried two or more sequences.",
          std::to_string(c.batched_steps + metrics_.retired->batched_steps.load()), "counter");
    gauge("xops_prompt_tokens_reused_total",
          "Prompt tokens taken from the prefix cache instead of being prefilled.",
          std::to_string(c.decoder.reused_tokens + metrics_.retired->reused_tokens.load()),
          "counter");
    gauge("xops_decoder_max_batch", "The most sequences one forward pass has carried.",
          std::to_string(c.max_batch));
  }
  const auto& esc = prometheus_label;
  out += fmt::format(
      "# HELP xops_model_info The model being served.\n# TYPE xops_model_info "
      "gauge\nxops_model_info{{model=\"{}\",version=\"{}\",adapter=\"{}\",ready=\"{}\"}} 1\n",
      esc(o_.model_id), esc(ready ? b->version : std::string()),
      esc(ready ? b->default_adapter : std::string()), ready ? "true" : "false");
  http::ServerReply r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = out;
  return r;
}

}  // namespace xops
