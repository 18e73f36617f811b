#pragma once
// OpenAI-compatible routes over the scheduler: /v1/models, /v1/completions,
// /v1/chat/completions (both with SSE streaming, usage and logprobs), /v1/embeddings,
// /health and /metrics. Requests are validated here; a bad one gets 400 with an
// OpenAI-style error body, never a crash.
#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "core/http_server.hpp"
#include "core/serve/metrics.hpp"

namespace xops {

class LanguageModel;
class Scheduler;
class InteractionLog;

struct ApiOptions {
  std::string model_id;                 // the name /v1/models lists ("model" in requests)
  std::map<std::string, int> adapters;  // name -> adapter id; requested as "MODEL:NAME"
  std::string api_key;                  // empty: no authentication
  size_t max_prompt_tokens = 0;         // 0: the context less one
  double timeout_s = 600;               // per request
  std::string version;                  // the ref served (registry version or path)
  std::string model_hash;               // content hashes, for the interaction log
  std::map<std::string, std::string> adapter_hashes;
  InteractionLog* log = nullptr;  // null: nothing is logged (POST /v1/feedback says so)
};

class OpenAiApi {
 public:
  explicit OpenAiApi(ApiOptions o);
  // Before attach(): what is only known once the model has loaded.
  void set_loaded(const std::map<std::string, int>& adapters, const std::string& model_hash,
                  const std::map<std::string, std::string>& adapter_hashes) {
    o_.adapters = adapters;
    o_.model_hash = model_hash;
    o_.adapter_hashes = adapter_hashes;
  }
  // Until attach(), every route but /health and /metrics answers 503 (loading).
  void attach(LanguageModel& model, Scheduler& scheduler);
  http::ServerReply handle(const http::ServerRequest& r);
  ServeMetrics& metrics() { return metrics_; }

 private:
  http::ServerReply route(const http::ServerRequest& r, std::string& route_label);
  http::ServerReply models() const;
  http::ServerReply generate(const http::ServerRequest& r, bool chat);
  http::ServerReply embeddings(const http::ServerRequest& r);
  http::ServerReply feedback(const http::ServerRequest& r);
  http::ServerReply render_metrics() const;

  ApiOptions o_;
  std::atomic<LanguageModel*> model_{nullptr};
  Scheduler* scheduler_ = nullptr;
  ServeMetrics metrics_;
};

// The built-in chat template (the one `xops finetune` trains chat data with):
// "<|role|>\ncontent\n" per message, then "<|assistant|>\n".
std::string render_chat(const std::vector<std::pair<std::string, std::string>>& messages);

// Equal strings in time that depends only on their lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace xops
