#include "core/serve/openai_api.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "core/engine/language_model.hpp"
#include "core/error.hpp"
#include "core/serve/openai_request.hpp"
#include "core/serve/scheduler.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/ulid.hpp"
#include "core/util/json_error.hpp"

namespace xops {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// What a generation request streams out: token events, then the result.
struct Channel {
  struct Event {
    int32_t id;
    std::string piece;
    std::optional<TokenLogprob> lp;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  bool done = false;
  Generation gen;
  Clock::time_point start = Clock::now(), last, first_token;
  bool first = true;
};

json top_logprobs_chat(const Tokenizer& tok, const TokenLogprob& lp) {
  auto entry = [&](int32_t id, double l) {
    auto text = tok.decode({id});
    std::vector<int> bytes;
    for (unsigned char c : text) bytes.push_back(c);
    return json{{"token", text}, {"logprob", l}, {"bytes", bytes}};
  };
  auto e = entry(lp.id, lp.logprob);
  e["top_logprobs"] = json::array();
  for (const auto& [id, l] : lp.top) e["top_logprobs"].push_back(entry(id, l));
  return e;
}

// The legacy completions shape: parallel lists.
json logprobs_completion(const Tokenizer& tok, const std::vector<TokenLogprob>& lps, size_t n) {
  json j = {{"tokens", json::array()},
            {"token_logprobs", json::array()},
            {"top_logprobs", json::array()},
            {"text_offset", json::array()}};
  size_t offset = 0;
  for (size_t i = 0; i < n && i < lps.size(); ++i) {
    auto text = tok.decode({lps[i].id});
    j["tokens"].push_back(text);
    j["token_logprobs"].push_back(lps[i].logprob);
    json top = json::object();
    for (const auto& [id, l] : lps[i].top) top[tok.decode({id})] = l;
    j["top_logprobs"].push_back(top);
    j["text_offset"].push_back(offset);
    offset += text.size();
  }
  return j;
}

}  // namespace

std::string render_chat(const std::vector<std::pair<std::string, std::string>>& messages) {
  std::string out;
  for (const auto& [role, content] : messages) out += "<|" + role + "|>\n" + content + "\n";
  return out + "<|assistant|>\n";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

OpenAiApi::OpenAiApi(ApiOptions o) : o_(std::move(o)) {}

ServeBackend::~ServeBackend() {
  // Released: no request holds it, so its counters are final (a shadow's run, which does not
  // hold it, may add a step or two while the scheduler stops).
  if (retire_into && scheduler) {
    auto c = scheduler->counters();
    retire_into->steps += c.decoder.steps;
    retire_into->batched_steps += c.batched_steps;
    retire_into->reused_tokens += c.decoder.reused_tokens;
  }
  scheduler.reset();
}

void OpenAiApi::serve(std::shared_ptr<ServeBackend> b) {
  if (b && !b->retire_into) b->retire_into = metrics_.retired;
  std::atomic_store(&backend_, std::move(b));
}

std::shared_ptr<ServeBackend> OpenAiApi::backend() const {
  return std::atomic_load(&backend_);
}

void OpenAiApi::serve_candidate(std::shared_ptr<ServeBackend> b) {
  std::atomic_store(&candidate_, std::move(b));
}

std::shared_ptr<ServeBackend> OpenAiApi::candidate() const {
  return std::atomic_load(&candidate_);
}

bool in_canary(const std::string& user, double share) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and machines
  for (unsigned char c : user) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 33;  // FNV's low bits mix poorly for short, similar ids
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h % 1000000) < share * 1000000;
}

http::ServerReply OpenAiApi::models(const Backend& b) const {
  json data = json::array();
  auto created = static_cast<int64_t>(std::time(nullptr));
  data.push_back(
      {{"id", o_.model_id}, {"object", "model"}, {"created", created}, {"owned_by", "xops"}});
  for (const auto& [name, id] : b->adapters)
    if (name != b->default_adapter)
      data.push_back({{"id", o_.model_id + ":" + name},
                      {"object", "model"},
                      {"created", created},
                      {"owned_by", "xops"},
                      {"parent", o_.model_id}});
  if (!o_.embedding_model.empty())
    data.push_back({{"id", o_.embedding_model},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "xops"}});
  http::ServerReply r;
  r.body = dump({{"object", "list"}, {"data", data}});
  return r;
}

namespace {

// One generation request once parsed and placed: what the reply, the stream and the log need.
// Held by shared_ptr: a streamed reply outlives generate().
struct GenJob {
  bool chat = false;
  GenerationRequest parsed;
  std::shared_ptr<ServeBackend> backend;  // keeps the weights (and tokenizer) while it runs
  int adapter = -1;
  std::string adapter_name, model_name;  // model_name: as the client named it
  std::vector<int32_t> prompt;
  std::string prompt_text;
  std::string id, object, chunk_object;
  int64_t created = 0;
  std::shared_ptr<GenRequest> req;
  std::shared_ptr<Channel> ch = std::make_shared<Channel>();
  std::string arm, pair_id;  // serve --shadow / --canary (the interaction log's columns)
  std::shared_ptr<AccessRecord> trace;  // the served request's (a shadow has none)
  // serve --index: the chunks retrieved for it (a shadow reuses the served request's), and
  // what the log and the response say of them; null when it asked for none.
  std::vector<index::Passage> passages;
  json retrieval;

  json usage(const Generation& g) const {
    return json{{"prompt_tokens", prompt.size()},
                {"completion_tokens", g.ids.size()},
                {"total_tokens", prompt.size() + g.ids.size()}};
  }
  std::string event(const json& choice) const {
    json j = {{"id", id},
              {"object", chunk_object},
              {"created", created},
              {"model", model_name},
              {"choices", json::array({choice})}};
    return "data: " + dump(j) + "\n\n";
  }
};

// "model": the base, or "BASE:ADAPTER" (an adapter name alone works too).
void place_adapter(GenJob& j, const std::string& model_id) {
  const auto& b = *j.backend;
  if (!b.default_adapter.empty()) {
    j.adapter = b.adapters.at(b.default_adapter);
    j.adapter_name = b.default_adapter;
  }
  const auto& asked = j.parsed.model;
  j.model_name = asked.empty() ? model_id : asked;
  if (asked.empty()) return;
  auto name = asked;
  if (name.rfind(model_id + ":", 0) == 0) name = name.substr(model_id.size() + 1);
  if (name == model_id) return;
  auto it = b.adapters.find(name);
  if (it == b.adapters.end())  // control bytes shown escaped: a NUL would cut the message
    throw ApiError(404,
                   fmt::format("the model '{}' does not exist here (GET /v1/models lists them)",
                               escape_control(asked)),
                   "model", "model_not_found");
  j.adapter = it->second;
  j.adapter_name = name;
}

// serve --index: the index's best chunks for the request's query (its last user message
// unless it gave one) go first, in the system message (appended to one the conversation has).
void add_retrieved_context(GenJob& j, const ApiOptions& o,
                           std::vector<std::pair<std::string, std::string>>& msgs) {
  const auto& want = *j.parsed.retrieval;
  if (j.retrieval.is_null()) {
    if (!o.retrieve)
      throw ApiError(
          400, "this server has no index to retrieve from (start it with xops serve --index NAME)",
          "retrieval", "retrieval_unavailable");
    std::string query = want.query;
    for (auto it = msgs.rbegin(); query.empty() && it != msgs.rend(); ++it)
      if (it->first == "user") query = it->second;
    if (query.empty())
      throw bad("retrieval needs a query: a user message or retrieval.query", "retrieval");
    try {
      j.passages = o.retrieve(query, want.k, want.where);
    } catch (const Error& e) {
      throw ApiError(500, fmt::format("retrieval failed: {}", e.what()), "retrieval",
                     "retrieval_failed", "server_error");
    }
    json chunks = json::array();
    for (const auto& p : j.passages)
      chunks.push_back({{"id", p.id}, {"source", p.source}, {"score", p.score}});
    j.retrieval = {{"index", o.index},
                   {"content_sha256", o.index_sha256},
                   {"query", query},
                   {"chunks", chunks}};
  }
  if (j.passages.empty()) return;
  std::string context = "Use the following context to answer.\n";
  for (const auto& p : j.passages) context += "\n" + p.text + "\n";
  if (!msgs.empty() && (msgs.front().first == "system" || msgs.front().first == "developer"))
    msgs.front().second += "\n\n" + context;
  else
    msgs.insert(msgs.begin(), {"system", context});
}

// The prompt's ids and text: a chat request through the model's template (with the server's
// system prompt first when the client sent none), else the text or the ids as given.
void build_prompt(GenJob& j, const ApiOptions& o, size_t context) {
  const auto& tok = j.backend->model->tokenizer();
  j.prompt = j.parsed.prompt_ids;
  j.prompt_text = j.parsed.prompt_text;
  if (j.chat) {
    auto msgs = j.parsed.messages;
    if (!o.system_prompt.empty() && msgs.front().first != "system" &&
        msgs.front().first != "developer")
      msgs.insert(msgs.begin(), {"system", o.system_prompt});
    if (j.parsed.retrieval) add_retrieved_context(j, o, msgs);
    try {
      j.prompt_text = j.backend->chat_template.render(msgs);
    } catch (const Error& e) {  // e.g. a template that refuses a role order
      throw bad(fmt::format("the model's chat template refused these messages: {}", e.what()),
                "messages");
    }
    j.prompt = tok.encode(j.prompt_text);
  } else if (j.prompt.empty()) {
    j.prompt = tok.encode(j.prompt_text);
  } else {
    j.prompt_text = tok.decode(j.prompt);
  }
  const char* param = j.chat ? "messages" : "prompt";
  if (j.prompt.empty()) throw bad("the prompt is empty", param);
  size_t limit = o.max_prompt_tokens ? o.max_prompt_tokens : context - 1;
  if (j.prompt.size() > limit || j.prompt.size() >= context)
    throw ApiError(400,
                   fmt::format("the prompt has {} tokens; this server takes at most {}",
                               j.prompt.size(), std::min(limit, context - 1)),
                   param, "context_length_exceeded");
}

// Where a finished request is logged, and what happens when that fails.
struct LogSink {
  InteractionLog* log = nullptr;
  ServeMetrics* metrics = nullptr;
  std::function<void(const std::string&)> warn;
  // Called once the served answer is complete (not for errors or cancelled requests): the
  // shadow starts here, after the client has what it asked for.
  std::function<void(const GenJob&)> answered;
};

// The HTTP status a finished generation stands for (a stream's was 200 when it began).
int status_of(const Generation& g, bool cancelled) {
  if (cancelled || g.finish_reason == "cancelled") return 499;
  if (g.finish_reason == "error") return 500;
  if (g.finish_reason == "timeout") return 504;
  return 200;
}

// The interaction log's row, written from the request's thread once it has finished; the
// request's access record gets its tokens and status.
void log_interaction(const LogSink& sink, const GenJob& j, const Generation& g, const Channel& c) {
  const int status = status_of(g, j.req && j.req->cancelled);
  if (j.trace) {
    auto& t = *j.trace;
    t.id = j.id;
    t.status = status;
    t.prompt_tokens = static_cast<int64_t>(j.prompt.size());
    t.completion_tokens = static_cast<int64_t>(g.ids.size());
    t.logged = sink.log != nullptr;
    if (status >= 400 && t.error_code.empty())
      t.error_code = status == 499 ? "cancelled" : status == 504 ? "timeout" : "server_error";
  }
  if (!sink.log) return;
  auto* log = sink.log;
  const auto& b = *j.backend;
  const auto& s = j.parsed.sampling;
  Interaction i;
  i.id = j.id;
  i.route = j.chat ? "chat" : "completions";
  i.model = j.model_name;
  i.adapter = j.adapter_name;
  i.version = b.version;
  i.model_hash = b.model_hash;
  if (auto it = b.adapter_hashes.find(j.adapter_name); it != b.adapter_hashes.end())
    i.adapter_hash = it->second;
  i.prompt = j.prompt_text;
  i.messages = j.chat ? dump(j.parsed.messages_json) : std::string();
  i.output = g.text;
  if (!j.retrieval.is_null()) i.retrieval = dump(j.retrieval);
  i.params = dump({{"max_tokens", s.max_tokens},
                   {"temperature", s.temperature},
                   {"top_p", s.top_p},
                   {"top_k", s.top_k},
                   {"stop", s.stop},
                   {"seed", s.seed}});
  i.finish_reason = g.finish_reason;
  i.prompt_tokens = static_cast<int64_t>(j.prompt.size());
  i.completion_tokens = static_cast<int64_t>(g.ids.size());
  i.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - c.start).count();
  if (!c.first)
    i.ttft_ms = std::chrono::duration<double, std::milli>(c.first_token - c.start).count();
  i.arm = j.arm;
  i.pair_id = j.pair_id;
  i.status = status;
  i.user = j.parsed.user.substr(0, 256);
  try {
    log->record(i);
  } catch (const std::exception& e) {
    // A full disk must not fail the response that was already computed, nor pass unseen:
    // counted (/metrics, /health), said the first time and every 100th after.
    auto n = ++sink.metrics->log_failures;
    if (sink.warn && (n == 1 || n % 100 == 0))
      sink.warn(fmt::format("the interaction log could not record response {} ({} so far): {}",
                            i.id, n, e.what()));
  }
}

std::optional<http::ServerReply> failed_generation(const Generation& g, double timeout_s) {
  if (g.finish_reason == "error")
    return error_reply({500, "the engine failed while generating", {}, {}, "server_error"});
  if (g.finish_reason == "timeout")
    return error_reply({504,
                        fmt::format("the request ran past the server's {} s timeout", timeout_s),
                        {},
                        "timeout",
                        "server_error"});
  return std::nullopt;
}

http::ServerReply whole_reply(const GenJob& j, const ApiOptions& o, const LogSink& sink,
                              const std::function<bool()>& client_gone) {
  std::unique_lock<std::mutex> lk(j.ch->mu);
  // A client that hangs up stops its generation: its slot goes to someone who is waiting.
  while (!j.ch->cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return j.ch->done; }))
    if (client_gone && !j.req->cancelled && client_gone()) j.req->cancelled = true;
  const auto& g = j.ch->gen;
  log_interaction(sink, j, g, *j.ch);
  if (j.req->cancelled)  // nobody reads it; 499 (nginx's "client closed request") in /metrics
    return error_reply({499, "the client closed the connection", {}, "cancelled"});
  if (auto failed = failed_generation(g, o.timeout_s)) return *failed;
  if (sink.answered) sink.answered(j);
  const auto& tok = j.backend->model->tokenizer();
  const bool logprobs = j.parsed.sampling.logprobs >= 0;
  json choice = {{"index", 0}, {"finish_reason", g.finish_reason}};
  if (j.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", g.text}};
    if (logprobs) {
      json content = json::array();
      for (size_t i = 0; i < g.ids.size() && i < g.logprobs.size(); ++i)
        content.push_back(top_logprobs_chat(tok, g.logprobs[i]));
      choice["logprobs"] = {{"content", content}};
    } else {
      choice["logprobs"] = nullptr;
    }
  } else {
    choice["text"] = g.text;
    choice["logprobs"] = logprobs ? logprobs_completion(tok, g.logprobs, g.ids.size()) : json();
  }
  http::ServerReply r;
  json body = {{"id", j.id},
               {"object", j.object},
               {"created", j.created},
               {"model", j.model_name},
               {"choices", json::array({choice})},
               {"usage", j.usage(g)}};
  if (!j.retrieval.is_null())
    body["retrieval"] = j.retrieval;  // the chunks it was given (citations)
  r.body = dump(body);
  return r;
}

// The SSE events for the tokens that arrived since the last write.
std::string token_events(const GenJob& j, const std::deque<Channel::Event>& events) {
  const auto& tok = j.backend->model->tokenizer();
  std::string out;
  for (const auto& e : events) {
    if (e.piece.empty() && !e.lp) continue;
    json choice = {{"index", 0}, {"finish_reason", nullptr}};
    if (j.chat) {
      choice["delta"] = {{"content", e.piece}};
      choice["logprobs"] =
          e.lp ? json{{"content", json::array({top_logprobs_chat(tok, *e.lp)})}} : json();
    } else {
      choice["text"] = e.piece;
      choice["logprobs"] = e.lp ? logprobs_completion(tok, {*e.lp}, 1) : json();
    }
    out += j.event(choice);
  }
  return out;
}

// The closing events: the finish reason (or an error event), usage when asked, [DONE].
std::string final_events(const GenJob& j, const Generation& g) {
  std::string out;
  if (g.finish_reason == "error" || g.finish_reason == "timeout") {
    out += "data: " +
           dump({{"error",
                  {{"message", g.finish_reason == "error"
                                   ? "the engine failed while generating"
                                   : "the request ran past the server's timeout"},
                   {"type", "server_error"}}}}) +
           "\n\n";
  } else {
    json last = {{"index", 0}, {"finish_reason", g.finish_reason}};
    if (j.chat)
      last["delta"] = json::object();
    else
      last["text"] = "";
    out += j.event(last);
    if (j.parsed.include_usage)
      out += "data: " +
             dump({{"id", j.id},
                   {"object", j.chunk_object},
                   {"created", j.created},
                   {"model", j.model_name},
                   {"choices", json::array()},
                   {"usage", j.usage(g)}}) +
             "\n\n";
  }
  return out + "data: [DONE]\n\n";
}

http::ServerReply stream_reply(std::shared_ptr<const GenJob> j, LogSink log) {
  http::ServerReply r;
  r.content_type = "text/event-stream";
  r.headers["Cache-Control"] = "no-cache";
  auto sent_role = std::make_shared<bool>(false);
  r.stream = [j, log, sent_role](const http::ChunkWriter& write) {
    auto& ch = *j->ch;
    std::deque<Channel::Event> events;
    bool done;
    Generation g;
    {
      std::unique_lock<std::mutex> lk(ch.mu);
      ch.cv.wait(lk, [&] { return ch.done || !ch.events.empty(); });
      events.swap(ch.events);
      done = ch.done;
      if (done) g = ch.gen;
    }
    std::string out;
    if (j->chat && !*sent_role) {
      out += j->event({{"index", 0},
                       {"delta", {{"role", "assistant"}, {"content", ""}}},
                       {"finish_reason", nullptr}});
      *sent_role = true;
    }
    out += token_events(*j, events);
    if (done) {
      log_interaction(log, *j, g, ch);
      out += final_events(*j, g);
    }
    if (!out.empty() && !write(out)) {
      j->req->cancelled = true;  // the client left: its slot is freed at the next step
      if (!done) {               // log what it got, once the scheduler has ended it
        std::unique_lock<std::mutex> lk(ch.mu);
        ch.cv.wait(lk, [&] { return ch.done; });
        log_interaction(log, *j, ch.gen, ch);
      }
      return false;
    }
    if (done && log.answered && g.finish_reason != "error" && g.finish_reason != "timeout")
      log.answered(*j);  // the last bytes are written: the shadow runs after the answer
    return !done;
  };
  return r;
}

// The shadow's run of a request whose served answer is complete: the same messages or prompt
// and sampling (seed included) on the candidate, logged as arm "shadow" with the served
// response's id, never returned. Dropped (and counted) when the candidate's queue is full or
// the request does not fit it.
void start_shadow(const GenJob& served, std::shared_ptr<ServeBackend> cand, const ApiOptions& o,
                  ServeMetrics& metrics, LogSink sink) {
  auto sj = std::make_shared<GenJob>();
  sj->chat = served.chat;
  sj->parsed = served.parsed;
  sj->parsed.stream = false;
  sj->passages = served.passages;  // the same context as the served answer: a fair comparison
  sj->retrieval = served.retrieval;
  sj->backend = std::move(cand);
  try {
    place_adapter(*sj, o.model_id);
    if (!sj->parsed.prompt_ids.empty() &&
        sj->backend->model->config().vocab_size != served.backend->model->config().vocab_size)
      throw bad("token ids of another vocabulary");
    build_prompt(*sj, o, static_cast<size_t>(sj->backend->scheduler->context()));
  } catch (const std::exception&) {
    ++metrics.shadow_dropped;
    return;
  }
  sj->id = std::string(served.chat ? "chatcmpl-" : "cmpl-") + new_ulid();
  sj->arm = "shadow";
  sj->pair_id = served.id;
  auto req = std::make_shared<GenRequest>();
  req->sampling = sj->parsed.sampling;
  req->prompt = sj->prompt;
  req->adapter = sj->adapter;
  req->deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  req->on_token = [ch = sj->ch](int32_t, const std::string&, const TokenLogprob*) {
    std::lock_guard<std::mutex> lk(ch->mu);
    if (ch->first) ch->first_token = Clock::now();
    ch->first = false;
  };
  sink.answered = nullptr;
  // What the log needs of the candidate, without its weights: the closure below lives in the
  // candidate's scheduler, which must never hold (and so never free, from its own thread) the
  // backend that owns it. sj does not hold req either: no cycle through the closure.
  auto info = std::make_shared<ServeBackend>();
  info->version = sj->backend->version;
  info->model_hash = sj->backend->model_hash;
  info->adapter_hashes = sj->backend->adapter_hashes;
  auto scheduler = sj->backend->scheduler.get();
  sj->backend = std::move(info);
  req->on_done = [sj, sink](const Generation& g) {
    sink.metrics->tokens(sj->backend->version, sj->adapter_name, sj->prompt.size(), g.ids.size());
    {
      std::lock_guard<std::mutex> lk(sj->ch->mu);
      sj->ch->gen = g;
      sj->ch->done = true;
    }
    if (g.finish_reason != "error") log_interaction(sink, *sj, g, *sj->ch);
  };
  if (scheduler->submit(req))
    ++metrics.shadow_started;
  else
    ++metrics.shadow_dropped;
}

}  // namespace

http::ServerReply OpenAiApi::generate(const Backend& b, const http::ServerRequest& hr, bool chat,
                                      const Trace& t) {
  auto j = std::make_shared<GenJob>();
  j->chat = chat;
  j->backend = b;
  j->trace = t;
  j->parsed = parse_generation_request(hr.body, chat, b->model->config().vocab_size);
  t->model = j->parsed.model;
  t->user = j->parsed.user;
  auto cand = o_.compare == ApiOptions::Compare::None ? nullptr : candidate();
  if (cand) {
    j->arm = "prod";
    // Token-id prompts belong to the served model's vocabulary: they stay with it.
    if (o_.compare == ApiOptions::Compare::Canary && j->parsed.prompt_ids.empty() &&
        in_canary(j->parsed.user.empty() ? new_ulid() : j->parsed.user, o_.canary_share)) {
      j->backend = cand;
      j->arm = "canary";
      ++metrics_.canary_requests;
    }
  }
  t->version = j->backend->version;
  place_adapter(*j, o_.model_id);
  t->adapter = j->adapter_name;
  // The canary's own scheduler: its weights, its context (it used to decode on the served one).
  auto& scheduler = *j->backend->scheduler;
  build_prompt(*j, o_, static_cast<size_t>(scheduler.context()));

  j->req = std::make_shared<GenRequest>();
  auto& req = *j->req;
  req.sampling = j->parsed.sampling;
  req.prompt = j->prompt;
  req.adapter = j->adapter;
  req.deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o_.timeout_s * 1000));
  req.on_token = [ch = j->ch, this](int32_t id, const std::string& piece, const TokenLogprob* lp) {
    std::lock_guard<std::mutex> lk(ch->mu);
    auto now = Clock::now();
    if (ch->first) {
      ch->first_token = now;  // the time to first token: what the log and /metrics report
      metrics_.ttft.observe(std::chrono::duration<double>(now - ch->start).count());
    } else {
      metrics_.itl.observe(std::chrono::duration<double>(now - ch->last).count());
    }
    ch->first = false;
    ch->last = now;
    ch->events.push_back({id, piece, lp ? std::optional<TokenLogprob>(*lp) : std::nullopt});
    ch->cv.notify_one();
  };
  req.on_done = [ch = j->ch, this, version = j->backend->version, adapter = j->adapter_name,
                 prompt = j->prompt.size()](const Generation& g) {
    metrics_.tokens(version, adapter, prompt, g.ids.size());
    std::lock_guard<std::mutex> lk(ch->mu);
    ch->gen = g;
    ch->done = true;
    metrics_.request_seconds.observe(
        std::chrono::duration<double>(Clock::now() - ch->start).count());
    ch->cv.notify_one();
  };
  if (!scheduler.submit(j->req)) {
    auto e = error_reply({429,
                          "the server is at capacity (its queue is full); retry shortly",
                          {},
                          "rate_limit_exceeded",
                          "rate_limit_error"});
    e.headers["Retry-After"] = "1";
    return e;
  }
  j->id = std::string(chat ? "chatcmpl-" : "cmpl-") + new_ulid();
  j->created = static_cast<int64_t>(std::time(nullptr));
  j->object = chat ? "chat.completion" : "text_completion";
  j->chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  LogSink sink{o_.log, &metrics_, o_.on_warning, {}};
  if (cand && o_.compare == ApiOptions::Compare::Shadow)
    sink.answered = [this, cand, sink](const GenJob& served) {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      if (o_.shadow_rate < 1 && std::uniform_real_distribution<double>(0, 1)(rng) >= o_.shadow_rate)
        return;
      start_shadow(served, cand, o_, metrics_, sink);
    };
  if (!j->parsed.stream) return whole_reply(*j, o_, sink, hr.client_gone);
  return stream_reply(j, std::move(sink));
}

}  // namespace xops
