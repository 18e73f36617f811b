#pragma once
// OpenAI-compatible routes over the scheduler: /v1/models, /v1/completions,
// /v1/chat/completions (both with SSE streaming, usage and logprobs), /v1/embeddings,
// /health and /metrics. Requests are validated here; a bad one gets 400 with an
// OpenAI-style error body, never a crash.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/index/passage.hpp"
#include "core/plugins/http_server.hpp"
#include "core/project/config.hpp"
#include "core/serve/chat_template.hpp"
#include "core/serve/metrics.hpp"

namespace xops {

class LanguageModel;
class Scheduler;
class InteractionLog;

// One finished request, as `xops serve -v` prints it and /metrics counts it.
struct AccessRecord {
  std::string method, path, route;  // route: the known route, or "other"
  int status = 0;
  std::string version, adapter, model, user;  // as answered (empty before a model is ready)
  std::string id;                             // the response id ("" when none was made)
  std::string error_code, error_message;      // a 4xx/5xx's OpenAI error
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double latency_ms = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool logged = false;  // the interaction log has its row already (a generation's)
};

struct ApiOptions {
  std::string model_id;           // the name /v1/models lists ("model" in requests)
  std::string api_key;            // empty: no authentication
  size_t max_prompt_tokens = 0;   // 0: the context less one
  double timeout_s = 600;         // per request
  InteractionLog* log = nullptr;  // null: nothing is logged (POST /v1/feedback says so)
  std::string system_prompt;      // put first in chat requests that bring no system message
  // A response that could not be logged (a full disk): said here, counted in /metrics and
  // /health; the response itself is still sent.
  std::function<void(const std::string&)> on_warning;
  // Each finished request (serve -v prints an access-log line); from the request's thread.
  std::function<void(const AccessRecord&)> on_access;
  // POST /v1/feedback's named scores and their ranges (xops.yaml's feedback: scores).
  std::map<std::string, ScoreSpec> feedback_scores{{"score", {}}};
  // A candidate version beside the served one (serve_candidate): `shadow` answers a sample of
  // requests after the served answer is done (the client never waits for it nor sees it);
  // `canary` answers a share of users itself (sticky per the request's `user` field). Both
  // arms are logged: arm "prod" / "shadow" / "canary"; a shadow answer names the response
  // it shadows (pair_id).
  enum class Compare { None, Shadow, Canary } compare = Compare::None;
  double shadow_rate = 1.0;   // share of requests the shadow also answers
  double canary_share = 0.0;  // share of users (or of requests without `user`) sent to it
  // serve --index: searches the index for a chat request that asks for retrieval; `index` and
  // `index_sha256` name it in the log. Unset: such a request is refused (400).
  std::function<std::vector<index::Passage>(const std::string& query, size_t k,
                                            const std::map<std::string, std::string>& where)>
      retrieve;
  std::string index, index_sha256;
  // serve --embedding: a sentence encoder answers /v1/embeddings for requests whose model is
  // embedding_model (or that name none); others use the served model's mean-pooled states.
  std::string embedding_model;
  std::function<std::vector<std::vector<float>>(const std::vector<std::string>&)> embed_texts;
  std::function<size_t(const std::string&)> count_embedding_tokens;
  int embedding_max_tokens = 0;
};

// Whether a user falls in a canary of this share: a stable hash of the user id, so the same
// user always gets the same arm (and a larger share keeps everyone already in it).
bool in_canary(const std::string& user, double share);

// One loaded version: the model, its adapters and the scheduler decoding on it. Requests
// hold it while they run, so a swap (--watch) lets them finish on the weights they started
// on; the last holder's release drains its scheduler and frees the model.
struct ServeBackend {
  std::unique_ptr<LanguageModel> model;
  std::unique_ptr<Scheduler> scheduler;  // declared after the model: destroyed first
  std::map<std::string, int> adapters;   // name -> adapter id; requested as "MODEL:NAME"
  std::string default_adapter;           // serving an adapter ref: what requests for the model get
  std::string version;                   // the ref served, resolved (NAME@v1.2.0 or a path)
  std::string model_hash;                // content hashes, for the interaction log
  std::map<std::string, std::string> adapter_hashes;
  ChatTemplate chat_template;
  // Where its decoder counters go when it is released (set by OpenAiApi::serve).
  std::shared_ptr<RetiredDecoders> retire_into;
  ~ServeBackend();
};

class OpenAiApi {
 public:
  explicit OpenAiApi(ApiOptions o);
  // Serves this backend from the next request on (null: 503, loading). Requests in flight
  // keep the one they started with.
  void serve(std::shared_ptr<ServeBackend> b);
  std::shared_ptr<ServeBackend> backend() const;
  // The candidate of options.compare (null: none yet; requests all go to the served one).
  void serve_candidate(std::shared_ptr<ServeBackend> b);
  std::shared_ptr<ServeBackend> candidate() const;
  http::ServerReply handle(const http::ServerRequest& r);
  // On the headers alone, before the body is read: a reply for an unauthenticated request.
  std::optional<http::ServerReply> admit(const http::ServerRequest& r);
  ServeMetrics& metrics() { return metrics_; }

 private:
  using Backend = std::shared_ptr<ServeBackend>;
  using Trace = std::shared_ptr<AccessRecord>;
  http::ServerReply route(const http::ServerRequest& r, const Trace& t);
  // Counts, logs (a refused or failed generation request) and reports a finished request.
  void finish(AccessRecord& t, const http::ServerReply* reply);
  http::ServerReply models(const Backend& b) const;
  http::ServerReply generate(const Backend& b, const http::ServerRequest& r, bool chat,
                             const Trace& t);
  http::ServerReply embeddings(const Backend& b, const http::ServerRequest& r);
  http::ServerReply feedback(const http::ServerRequest& r);
  http::ServerReply render_metrics(const Backend& b) const;

  ApiOptions o_;
  Backend backend_;    // through std::atomic_load/atomic_store
  Backend candidate_;  // likewise
  ServeMetrics metrics_;
};

// The built-in chat template (the one `xops finetune` trains chat data with):
// "<|role|>\ncontent\n" per message, then "<|assistant|>\n".
std::string render_chat(const std::vector<std::pair<std::string, std::string>>& messages);

// Equal strings in time that depends only on their lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace xops
