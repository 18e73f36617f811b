#include "core/serve/openai_request.hpp"
#include "core/util/json_error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>

namespace xops {

using nlohmann::json;

json parse_body(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw bad(fmt::format("the body is not JSON: {}", json_error(e)));
  }
  if (!j.is_object()) throw bad("the body must be a JSON object");
  return j;
}

double number_field(const json& body, const char* key, double dflt, double lo, double hi) {
  if (!body.contains(key) || body[key].is_null()) return dflt;
  const auto& v = body[key];
  if (!v.is_number()) throw bad(fmt::format("'{}' must be a number", key), key);
  double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    throw bad(fmt::format("'{}' must be between {} and {}", key, lo, hi), key);
  return d;
}

int integer_field(const json& body, const char* key, int dflt, int lo, int hi) {
  if (!body.contains(key) || body[key].is_null()) return dflt;
  const auto& v = body[key];
  // 5.0 is taken as 5 (YAML-to-JSON tools write integers that way); 5.5 is not.
  if (!v.is_number() || (v.is_number_float() && (v.get<double>() != std::floor(v.get<double>()) ||
                                                 std::fabs(v.get<double>()) > 1e15)))
    throw bad(fmt::format("'{}' must be an integer", key), key);
  auto d = v.is_number_float() ? static_cast<int64_t>(v.get<double>()) : v.get<int64_t>();
  if (d < lo || d > hi) throw bad(fmt::format("'{}' must be between {} and {}", key, lo, hi), key);
  return static_cast<int>(d);
}

bool bool_field(const json& body, const char* key, bool dflt) {
  if (!body.contains(key) || body[key].is_null()) return dflt;
  if (!body[key].is_boolean()) throw bad(fmt::format("'{}' must be true or false", key), key);
  return body[key].get<bool>();
}

namespace {

std::vector<std::string> stops(const json& body) {
  std::vector<std::string> out;
  if (!body.contains("stop") || body["stop"].is_null()) return out;
  const auto& s = body["stop"];
  if (s.is_string())
    out.push_back(s.get<std::string>());
  else if (s.is_array() && s.size() <= 16) {
    for (const auto& x : s) {
      if (!x.is_string()) throw bad("'stop' must be a string or a list of strings", "stop");
      out.push_back(x.get<std::string>());
    }
  } else {
    throw bad("'stop' must be a string or a list of up to 16 strings", "stop");
  }
  for (const auto& x : out)
    if (x.empty()) throw bad("a stop string is empty", "stop");
  return out;
}

// The messages of a chat request: roles OpenAI knows, content as a string or text parts.
std::vector<std::pair<std::string, std::string>> chat_messages(const json& body) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
    throw bad("'messages' must be a non-empty list", "messages");
  std::vector<std::pair<std::string, std::string>> msgs;
  for (const auto& m : body["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw bad("each message needs a string 'role'", "messages");
    auto role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "developer")
      throw bad(fmt::format("unknown role '{}'", role), "messages");
    std::string content;
    if (m.contains("content") && m["content"].is_string()) {
      content = m["content"].get<std::string>();
    } else if (m.contains("content") && m["content"].is_array()) {  // [{type: text, text}]
      for (const auto& part : m["content"]) {
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
            !part.contains("text") || !part["text"].is_string())
          throw bad("only text content parts are supported", "messages");
        content += part["text"].get<std::string>();
      }
    } else {
      throw bad("each message needs 'content' (a string or text parts)", "messages");
    }
    msgs.emplace_back(role, content);
  }
  return msgs;
}

}  // namespace

GenerationRequest parse_generation_request(const std::string& text, bool chat, int vocab_size) {
  json body = parse_body(text);
  GenerationRequest r;
  auto& s = r.sampling;
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) throw bad("'model' must be a string", "model");
    r.model = body["model"].get<std::string>();
  }
  if (chat) {
    r.messages = chat_messages(body);
    r.messages_json = body["messages"];
    int max_tokens = integer_field(body, "max_tokens", 0, 0, 1 << 20);
    max_tokens = integer_field(body, "max_completion_tokens", max_tokens, 0, 1 << 20);
    s.max_tokens = max_tokens > 0 ? max_tokens : (1 << 20);  // then the context decides
    if (bool_field(body, "logprobs", false))
      s.logprobs = integer_field(body, "top_logprobs", 0, 0, 20);
  } else {
    if (!body.contains("prompt")) throw bad("'prompt' is required", "prompt");
    auto p = body["prompt"];
    if (p.is_array() && p.size() == 1 && (p[0].is_string() || p[0].is_array())) p = p[0];
    if (p.is_string()) {
      r.prompt_text = p.get<std::string>();
      if (r.prompt_text.empty()) throw bad("the prompt is empty", "prompt");
    } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
      for (const auto& id : p) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab_size)
          throw bad("'prompt' token ids must be integers inside the vocabulary", "prompt");
        r.prompt_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
      }
    } else {
      throw bad("'prompt' must be a string or a list of token ids (one prompt per request)",
                "prompt");
    }
    s.max_tokens = integer_field(body, "max_tokens", 16, 0, 1 << 20);
    if (body.contains("logprobs") && !body["logprobs"].is_null())
      s.logprobs = integer_field(body, "logprobs", 0, 0, 20);
    if (bool_field(body, "echo", false)) throw bad("'echo' is not supported", "echo");
    if (body.contains("suffix") && !body["suffix"].is_null())
      throw bad("'suffix' is not supported", "suffix");
  }
  if (integer_field(body, "n", 1, 1, 1) != 1) throw bad("'n' must be 1", "n");
  if (body.contains("best_of")) integer_field(body, "best_of", 1, 1, 1);
  s.temperature = number_field(body, "temperature", 1.0, 0.0, 2.0);
  s.top_p = number_field(body, "top_p", 1.0, 0.0, 1.0);
  s.top_k = integer_field(body, "top_k", 0, 0, 1 << 20);
  s.stop = stops(body);
  if (body.contains("seed") && !body["seed"].is_null()) {
    if (!body["seed"].is_number_integer()) throw bad("'seed' must be an integer", "seed");
    s.seed = body["seed"].is_number_unsigned() ? body["seed"].get<uint64_t>()
                                               : static_cast<uint64_t>(body["seed"].get<int64_t>());
  } else {
    s.seed = std::random_device{}();
  }
  for (const char* k : {"frequency_penalty", "presence_penalty"})
    if (number_field(body, k, 0.0, -2.0, 2.0) != 0.0)
      throw bad(fmt::format("'{}' is not supported", k), k);
  s.stop_at_eos = !bool_field(body, "ignore_eos", false);  // llama.cpp's extension, for benchmarks
  if (body.contains("user") && !body["user"].is_null()) {
    if (!body["user"].is_string() || body["user"].get<std::string>().size() > 256)
      throw bad("'user' must be a string of at most 256 bytes", "user");
    r.user = body["user"].get<std::string>();
  }
  if (body.contains("retrieval") && !body["retrieval"].is_null() &&
      !(body["retrieval"].is_boolean() && !body["retrieval"].get<bool>())) {
    if (!chat) throw bad("'retrieval' is for chat requests", "retrieval");
    const auto& rv = body["retrieval"];
    GenerationRequest::Retrieval ret;
    if (rv.is_object()) {
      for (auto& [k, v] : rv.items())
        if (k != "k" && k != "where" && k != "query")
          throw bad(fmt::format("unknown retrieval field '{}' (k, where, query)",
                                escape_control(k.substr(0, 40))),
                    "retrieval");
      ret.k = static_cast<size_t>(integer_field(rv, "k", 4, 1, 20));
      if (rv.contains("query") && !rv["query"].is_null()) {
        if (!rv["query"].is_string() || rv["query"].get<std::string>().size() > 8192)
          throw bad("retrieval 'query' must be a string of at most 8192 bytes", "retrieval");
        ret.query = rv["query"].get<std::string>();
      }
      if (rv.contains("where") && !rv["where"].is_null()) {
        if (!rv["where"].is_object() || rv["where"].size() > 16)
          throw bad("retrieval 'where' must be an object of at most 16 fields", "retrieval");
        for (auto& [k, v] : rv["where"].items()) {
          if (!(v.is_string() || v.is_number() || v.is_boolean()))
            throw bad("retrieval 'where' values must be strings, numbers or booleans", "retrieval");
          ret.where[k] = v.is_string() ? v.get<std::string>() : v.dump();
        }
      }
    } else if (!rv.is_boolean()) {
      throw bad("'retrieval' must be true or an object {k, where, query}", "retrieval");
    }
    r.retrieval = ret;
  }
  r.stream = bool_field(body, "stream", false);
  if (body.contains("stream_options") && body["stream_options"].is_object())
    r.include_usage = bool_field(body["stream_options"], "include_usage", false);
  return r;
}

http::ServerReply error_reply(const ApiError& e) {
  using nlohmann::json;
  http::ServerReply r;
  r.status = e.status;
  r.body = json{{"error",
                 {{"message", e.what()},
                  {"type", e.type},
                  {"param", e.param.empty() ? json() : json(e.param)},
                  {"code", e.code.empty() ? json() : json(e.code)}}}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

std::string route_of(const std::string& path) {
  for (const char* known : {"/v1/models", "/v1/completions", "/v1/chat/completions",
                            "/v1/embeddings", "/v1/feedback", "/health", "/metrics"})
    if (path == known) return known;
  return "other";
}

}  // namespace xops
