// A request's way through the API: authentication (also on the headers alone, before the
// body is read), routing, and its end: counted in /metrics by version and adapter, a refused
// or failed generation request logged with its status, the access record reported.
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/engine/language_model.hpp"
#include "core/error.hpp"
#include "core/serve/openai_api.hpp"
#include "core/serve/openai_request.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/ulid.hpp"

namespace xops {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

http::ServerReply OpenAiApi::handle(const http::ServerRequest& r) {
  auto t = std::make_shared<AccessRecord>();
  t->method = r.method;
  t->path = r.path.substr(0, 256);
  t->route = route_of(r.path);
  http::ServerReply reply;
  try {
    reply = route(r, t);
  } catch (const ApiError& e) {
    reply = error_reply(e);
    t->error_code = !e.code.empty() ? e.code : e.type;
    t->error_message = e.what();
  } catch (const Error& e) {
    reply = error_reply({e.kind() == ErrorKind::Usage ? 400 : 500,
                         e.what(),
                         {},
                         {},
                         e.kind() == ErrorKind::Usage ? "invalid_request_error" : "server_error"});
  } catch (const std::bad_alloc&) {
    reply =
        error_reply({503, "the server ran out of memory for this request", {}, {}, "server_error"});
  } catch (const std::exception& e) {
    reply = error_reply({500, e.what(), {}, {}, "server_error"});
  }
  if (!reply.stream) {
    finish(*t, &reply);
    return reply;
  }
  // Streamed: finished once its last bytes are written, or the client left.
  t->status = reply.status;
  reply.stream = [inner = std::move(reply.stream), t, this](const http::ChunkWriter& w) {
    bool more = inner(w);
    if (!more) finish(*t, nullptr);
    return more;
  };
  return reply;
}

namespace {
bool is_generation_route(const std::string& route) {
  return route == "/v1/completions" || route == "/v1/chat/completions";
}
std::optional<http::ServerReply> refuse_unauthenticated(const http::ServerRequest& r,
                                                        const std::string& key) {
  if (key.empty() || route_of(r.path) == "/health") return std::nullopt;
  auto auth = r.header("authorization");
  const std::string prefix = "Bearer ";
  std::string given = auth.rfind(prefix, 0) == 0 ? auth.substr(prefix.size()) : std::string();
  if (constant_time_equal(given, key)) return std::nullopt;
  return error_reply({401,
                      "Incorrect or missing API key (send 'Authorization: Bearer KEY')",
                      {},
                      "invalid_api_key"});
}
}  // namespace

std::optional<http::ServerReply> OpenAiApi::admit(const http::ServerRequest& r) {
  auto refused = refuse_unauthenticated(r, o_.api_key);
  if (!refused) return std::nullopt;
  AccessRecord t;
  t.method = r.method;
  t.path = r.path.substr(0, 256);
  t.route = route_of(r.path);
  if (auto b = backend()) t.version = b->version;
  finish(t, &*refused);
  return refused;
}

void OpenAiApi::finish(AccessRecord& t, const http::ServerReply* reply) {
  if (reply) t.status = reply->status;
  t.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - t.start).count();
  if (reply && t.status >= 400 && t.error_code.empty()) {  // a returned (not thrown) error
    auto body = json::parse(reply->body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
      const auto& e = body["error"];
      auto str = [&](const char* k) {
        return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string();
      };
      t.error_code = !str("code").empty() ? str("code") : str("type");
      t.error_message = str("message");
    }
  }
  metrics_.request(t.route, t.status, t.version, t.adapter);
  // A generation request that was refused or failed before generating: a row of its own, so
  // the log (and `xops monitor`) sees every request, not only the answered ones.
  // Not a 401: a client without the key must not be able to write into the log (it is
  // counted in /metrics only).
  if (o_.log && !t.logged && t.status >= 400 && t.status != 401 && is_generation_route(t.route)) {
    Interaction i;
    i.id = "err-" + new_ulid();
    i.route = t.route == "/v1/chat/completions" ? "chat" : "completions";
    i.model = t.model.empty() ? o_.model_id : t.model.substr(0, 256);
    i.adapter = t.adapter;
    i.version = t.version;
    i.output = t.error_message.substr(0, 1024);  // the message the client got, bounded
    i.params = "{}";
    i.latency_ms = t.latency_ms;
    i.status = t.status;
    i.error = t.error_code.substr(0, 64);
    i.user = t.user.substr(0, 256);
    try {
      o_.log->record(i);
      t.logged = true;
    } catch (const std::exception& e) {
      auto n = ++metrics_.log_failures;
      if (o_.on_warning && (n == 1 || n % 100 == 0))
        o_.on_warning(fmt::format("the interaction log could not record a {} ({} so far): {}",
                                  t.status, n, e.what()));
    }
  }
  if (o_.on_access) o_.on_access(t);
}

http::ServerReply OpenAiApi::route(const http::ServerRequest& r, const Trace& t) {
  const auto& label = t->route;
  const auto b = backend();
  const bool ready = b != nullptr;
  if (ready) t->version = b->version;
  if (label == "/health") {
    http::ServerReply h;
    if (!ready)
      return error_reply({503, "the model is loading", {}, "loading", "unavailable_error"});
    // Still serving, but not keeping what it serves: say so (monitors watch this).
    if (auto n = metrics_.log_failures.load())
      h.body = dump({{"status", "degraded"},
                     {"reason", "the interaction log cannot record responses"},
                     {"log_failures", n}});
    else
      h.body = R"({"status":"ok"})";
    return h;
  }
  if (auto refused = refuse_unauthenticated(r, o_.api_key)) return *refused;
  if (label == "/metrics") return render_metrics(b);
  if (label == "other")
    return error_reply({404, fmt::format("no route {} {}", r.method, r.path), {}, "not_found"});
  const bool get = label == "/v1/models";
  if ((get && r.method != "GET") || (!get && r.method != "POST"))
    return error_reply(
        {405, fmt::format("{} takes {}", label, get ? "GET" : "POST"), {}, "method_not_allowed"});
  if (!ready) return error_reply({503, "the model is loading", {}, "loading", "unavailable_error"});
  if (label == "/v1/models") return models(b);
  if (label == "/v1/embeddings") return embeddings(b, r);
  if (label == "/v1/feedback") return feedback(r);
  return generate(b, r, label == "/v1/chat/completions", t);
}

}  // namespace xops
