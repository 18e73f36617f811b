// The routes beside generation: POST /v1/embeddings, POST /v1/feedback and GET /metrics.
#include <fmt/format.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/engine/language_model.hpp"
#include "core/error.hpp"
#include "core/serve/openai_api.hpp"
#include "core/serve/openai_request.hpp"
#include "core/serve/scheduler.hpp"
#include "core/tracking/interaction_log.hpp"

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

// POST /v1/feedback {"id": RESPONSE_ID, "score": 0..1?, "comment": STRING?}; a score is a
// fraction (1 good, 0 bad): means and --min-score filters read it so, so 5 or -1 is refused.
http::ServerReply OpenAiApi::feedback(const http::ServerRequest& hr) {
  json body = parse_body(hr.body);
  if (!body.contains("id") || !body["id"].is_string())
    throw bad("'id' (a response id) is required", "id");
  Feedback f;
  if (body.contains("score") && !body["score"].is_null())
    f.score = number_field(body, "score", 0, 0, 1);
  if (body.contains("comment") && !body["comment"].is_null()) {
    if (!body["comment"].is_string()) throw bad("'comment' must be a string", "comment");
    f.comment = body["comment"].get<std::string>();
    if (f.comment.size() > 65536) throw bad("'comment' is longer than 64 KiB", "comment");
  }
  if (!f.score && f.comment.empty()) throw bad("give a 'score', a 'comment' or both");
  if (!o_.log)
    throw bad("this server does not log interactions (started with --no-log or outside a project)");
  auto id = body["id"].get<std::string>();
  if (!o_.log->add_feedback(id, f))
    throw ApiError{404, fmt::format("no logged response has id '{}'", id), "id", "not_found"};
  http::ServerReply r;
  r.body = dump({{"id", id}, {"object", "feedback"}, {"recorded", true}});
  return r;
}

http::ServerReply OpenAiApi::render_metrics(const Backend& b) const {
  std::string out = metrics_.render_requests();
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
    gauge("xops_prompt_tokens_total", "Prompt tokens admitted.", std::to_string(c.prompt_tokens),
          "counter");
    gauge("xops_generation_tokens_total", "Tokens generated.", std::to_string(c.generated_tokens),
          "counter");
    gauge("xops_queue_depth", "Requests waiting for a decoder slot.", std::to_string(c.queued));
    gauge("xops_running_sequences", "Sequences in the decode batch.", std::to_string(c.running));
    gauge("xops_kv_cache_bytes_in_use", "KV memory holding tokens.",
          std::to_string(c.kv_bytes_in_use));
    gauge("xops_kv_cache_bytes_reserved", "KV memory preallocated for all slots.",
          std::to_string(c.kv_bytes_reserved));
    gauge("xops_decoder_steps_total", "Forward passes of the decoder.",
          std::to_string(c.decoder.steps), "counter");
    gauge("xops_decoder_batched_steps_total", "Forward passes that carried two or more sequences.",
          std::to_string(c.batched_steps), "counter");
    gauge("xops_decoder_max_batch", "The most sequences one forward pass has carried.",
          std::to_string(c.max_batch));
  }
  auto esc = [](std::string v) {
    std::string o;
    for (char ch : v) {
      if (ch == '\\' || ch == '"') o += '\\';
      if (ch == '\n') {
        o += "\\n";
        continue;
      }
      o += ch;
    }
    return o;
  };
  out += fmt::format(
      "# HELP xops_model_info The model being served.\n# TYPE xops_model_info "
      "gauge\nxops_model_info{{model=\"{}\",version=\"{}\",ready=\"{}\"}} 1\n",
      esc(o_.model_id), esc(ready ? b->version : std::string()), ready ? "true" : "false");
  http::ServerReply r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = out;
  return r;
}

}  // namespace xops
