#pragma once
// The OpenAI request bodies `xops serve` takes, read into typed requests. Everything here
// comes from the network: each field is type- and range-checked, and anything wrong becomes
// an ApiError (an OpenAI-style 4xx), never another exception.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/generation.hpp"
#include "core/error.hpp"
#include "core/plugins/http_server.hpp"

namespace xops {

// A request the client got wrong (or one the server cannot take): its HTTP status and the
// fields of OpenAI's error body.
struct ApiError : Error {
  ApiError(int status, const std::string& message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : Error(status >= 500 ? ErrorKind::Runtime : ErrorKind::Usage, message),
        status(status),
        param(std::move(param)),
        code(std::move(code)),
        type(std::move(type)) {}
  int status;
  std::string param, code, type;
};

inline ApiError bad(const std::string& message, const std::string& param = {}) {
  return ApiError(400, message, param);
}

// The body as a JSON object.
nlohmann::json parse_body(const std::string& text);

// An error as OpenAI sends it: {"error": {"message", "type", "param", "code"}} with its status.
http::ServerReply error_reply(const ApiError& e);
// The known route a path names ("/v1/completions", "/health", ...), else "other": the label
// /metrics counts by (never the raw path: that would be a series per typo).
std::string route_of(const std::string& path);
// Optional fields (absent or null: the default); out of range or of the wrong type: 400.
double number_field(const nlohmann::json& body, const char* key, double dflt, double lo, double hi);
int integer_field(const nlohmann::json& body, const char* key, int dflt, int lo, int hi);
bool bool_field(const nlohmann::json& body, const char* key, bool dflt);

// /v1/completions or /v1/chat/completions, before the model is involved.
struct GenerationRequest {
  std::string model;  // as the client named it; empty when not given
  std::vector<std::pair<std::string, std::string>> messages;  // chat: (role, content)
  nlohmann::json messages_json;                               // chat: as sent (for the log)
  std::string prompt_text;          // completions: the prompt text (empty with prompt_ids)
  std::vector<int32_t> prompt_ids;  // completions: token ids given directly, in [0, vocab)
  SamplingOptions sampling;         // seed drawn at random when not given
  bool stream = false, include_usage = false;
  std::string user;  // OpenAI's end-user id: a canary's arm sticks to it
  // xops's extension (serve --index): "retrieval": true | {"k", "where", "query"} in a chat
  // request puts the index's best chunks for the last user message (or `query`) in front of
  // the conversation as a system message.
  struct Retrieval {
    size_t k = 4;
    std::map<std::string, std::string> where;
    std::string query;  // "" = the last user message
  };
  std::optional<Retrieval> retrieval;
};
GenerationRequest parse_generation_request(const std::string& body, bool chat, int vocab_size);

}  // namespace xops
