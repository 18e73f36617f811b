#include "core/app/serve_session.hpp"

#include "core/app/embedders.hpp"
#include "core/app/index.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "core/engine/engine.hpp"
#include "core/app/notify.hpp"
#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/model_ref.hpp"
#include "core/refs/resolve.hpp"
#include "core/store/pointer.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/tracking_db.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

namespace xops::app {

namespace fs = std::filesystem;

namespace {

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Everything resolved before the server listens: what to serve and how.
struct Plan {
  refs::Target target;
  std::optional<refs::Target> candidate;  // --shadow / --canary
  std::vector<std::pair<std::string, fs::path>> adapters;
  ApiOptions api;
};

std::string model_id(const ServeRequest& r) {
  std::string id = !r.name.empty() ? r.name
                   : fs::is_directory(r.ref)
                       ? fs::path(r.ref).lexically_normal().filename().string()
                       : r.ref.substr(0, r.ref.find_first_of("@#"));
  return id.empty() ? "model" : id;
}

std::string read_system_prompt(const std::string& ref, const Workspace* ws) {
  auto t = refs::resolve_file(ref, ws);
  if (!t)
    throw precondition_error(
        fmt::format("--system-prompt '{}': not a file nor a registry reference to one", ref),
        "give a text file or a prompt artifact's ref (greeting#prod)");
  return read_file_limited(t->path, 1u << 20, "a system prompt");
}

Plan plan(const ServeRequest& r, const Workspace* ws) {
  if (!loopback(r.http.host) && r.api_key.empty() && !r.insecure)
    throw usage_error(
        fmt::format("refusing to serve on {} without an API key", r.http.host),
        "pass --api-key-env VAR (clients send 'Authorization: Bearer KEY'), or --insecure");
  Plan p;
  p.target = refs::resolve_model(r.ref, ws);
  if (r.watch && p.target.version == r.ref)
    throw usage_error(fmt::format("--watch: '{}' is not a registry ref, so it cannot move", r.ref),
                      "serve NAME#STAGE (e.g. mymodel#prod) from inside the project");
  for (const auto& a : r.adapters) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size() || a.find(':') < eq)
      throw usage_error(fmt::format("--adapter '{}': expected NAME=REF", a),
                        "e.g. --adapter support=runs/lora-1/adapter");
    p.adapters.emplace_back(a.substr(0, eq), resolve_model_ref(a.substr(eq + 1), ws));
  }
  if (!r.shadow.empty() && !r.canary.empty())
    throw usage_error("--shadow and --canary compare one candidate each way: give one",
                      "shadow first (no user sees it), then a canary");
  if (!r.shadow.empty()) {
    if (!(r.shadow_rate > 0 && r.shadow_rate <= 1))
      throw usage_error(fmt::format("--shadow-rate {}: must be in (0, 1]", r.shadow_rate),
                        "e.g. --shadow-rate 0.1 shadows one request in ten");
    p.api.compare = ApiOptions::Compare::Shadow;
    p.api.shadow_rate = r.shadow_rate;
    p.candidate = refs::resolve_model(r.shadow, ws);
  }
  if (!r.canary.empty()) {
    auto eq = r.canary.rfind('=');
    auto share = eq == std::string::npos ? std::string() : r.canary.substr(eq + 1);
    double pct = -1;
    if (!share.empty() && share.back() == '%') {
      try {
        size_t used = 0;
        pct = std::stod(share.substr(0, share.size() - 1), &used);
        if (used + 1 != share.size()) pct = -1;
      } catch (const std::exception&) {
      }
    }
    if (eq == 0 || !(pct > 0 && pct < 100))
      throw usage_error(fmt::format("--canary '{}': expected REF=P% with 0 < P < 100", r.canary),
                        "e.g. --canary mymodel#staging=10%");
    p.api.compare = ApiOptions::Compare::Canary;
    p.api.canary_share = pct / 100;
    p.candidate = refs::resolve_model(r.canary.substr(0, eq), ws);
  }
  if (p.candidate && p.candidate->version == p.target.version &&
      fs::weakly_canonical(p.candidate->path) == fs::weakly_canonical(p.target.path))
    throw usage_error(
        fmt::format("the candidate {} is the served version itself", p.candidate->version),
        "compare another version, e.g. serve NAME#prod --shadow NAME#staging");
  p.api.api_key = r.api_key;
  p.api.model_id = model_id(r);
  p.api.timeout_s = r.timeout_s;
  if (!r.system_prompt.empty()) p.api.system_prompt = read_system_prompt(r.system_prompt, ws);
  if (!r.embedding.empty()) {
    std::shared_ptr<index::Embedder> enc = open_embedder(r.embedding, ws, r.load.threads);
    auto mu = std::make_shared<std::mutex>();
    p.api.embedding_model = r.embedding.substr(0, r.embedding.find_first_of("@#"));
    if (auto slash = p.api.embedding_model.find_last_of('/'); slash != std::string::npos)
      p.api.embedding_model = p.api.embedding_model.substr(slash + 1);
    p.api.embedding_max_tokens = enc->max_tokens() > 2 ? enc->max_tokens() - 2 : 0;
    p.api.count_embedding_tokens = [enc](const std::string& t) { return enc->count(t); };
    p.api.embed_texts = [enc, mu](const std::vector<std::string>& texts) {
      std::lock_guard<std::mutex> lock(*mu);
      return enc->embed(texts);
    };
  }
  if (!r.index.empty()) {
    // One index for the server's life (its embedding model checked against the manifest);
    // searches take turns: the encoder is small next to the generation they precede.
    std::shared_ptr<Retriever> ret = Retriever::open(r.index, ws);
    auto mu = std::make_shared<std::mutex>();
    p.api.index = ret->version();
    p.api.index_sha256 = ret->index().manifest.content_sha256;
    p.api.retrieve = [ret, mu](const std::string& query, size_t k,
                               const std::map<std::string, std::string>& where) {
      std::vector<index::Where> w;
      for (const auto& [key, v] : where) w.push_back({key, v});
      std::lock_guard<std::mutex> lock(*mu);
      std::vector<index::Passage> out;
      for (const auto& h : ret->search(query, k, w))
        out.push_back({h.id, h.source, h.text, h.score});
      return out;
    };
  }
  return p;
}

// One version loaded: the base (an adapter ref brings its base; requests for the served model
// get the adapter), the --adapter adapters, the chat template and a scheduler on it.
std::shared_ptr<ServeBackend> load(const refs::Target& t, const Plan& p, const ServeRequest& r,
                                   bool logged, const ServeObserver& obs) {
  auto b = std::make_shared<ServeBackend>();
  const auto& id = p.api.model_id;
  b->model = engine().load(t.model_dir(), r.load);
  if (t.adapter) {
    b->default_adapter = id;
    b->adapters[id] = b->model->add_adapter(t.adapter->path);
    if (logged) b->adapter_hashes[id] = content_hash_of(t.adapter->path);
  }
  for (const auto& [name, dir] : p.adapters) {
    b->adapters[name] = b->model->add_adapter(dir);
    if (logged) b->adapter_hashes[name] = content_hash_of(dir);
  }
  if (logged) b->model_hash = content_hash_of(t.model_dir());
  b->version = t.version;
  b->chat_template = load_chat_template(t.model_dir());
  if (!b->chat_template.note.empty())
    tell(obs.on_warning,
         fmt::format("chat: using the built-in template: {}", b->chat_template.note));
  else if (!b->chat_template.source.empty())
    tell(obs.on_info, "chat: using the model's chat_template (tokenizer_config.json)");
  b->scheduler = std::make_unique<Scheduler>(*b->model, r.scheduler);
  return b;
}

http::ServerOptions with_admit(http::ServerOptions so, OpenAiApi& api) {
  so.admit = [&api](const http::ServerRequest& r) { return api.admit(r); };
  return so;
}

// The HTTP server on its own thread, stopped and joined when this goes out of scope.
struct Listener {
  std::unique_ptr<http::Server> server;
  std::thread thread;
  Listener(http::ServerOptions so, OpenAiApi& api)
      : server(http::make_server(with_admit(std::move(so), api),
                                 [&api](const http::ServerRequest& r) { return api.handle(r); })),
        thread([this] { server->run(); }) {}
  ~Listener() { stop(); }
  void stop() {
    server->stop();
    if (thread.joinable()) thread.join();
  }
  std::string url(const std::string& host) const {
    return fmt::format("http://{}:{}",
                       host.find(':') != std::string::npos ? "[" + host + "]" : host,
                       server->port());
  }
};

// Until asked to stop: with watch, every watch_s seconds, whether the stage moved; if so the
// new version loads beside the old and takes over.
void watch_until_stopped(const ServeRequest& r, const Workspace* ws, Plan& p, OpenAiApi& api,
                         bool logged, const ServeObserver& obs) {
  auto stop = obs.should_stop ? obs.should_stop : [] { return interrupt::requested(); };
  auto next_check = std::chrono::steady_clock::now();
  std::string failed;  // the version that failed to load: warned once, retried when it changes
  std::string last_error;
  while (!stop()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!r.watch || std::chrono::steady_clock::now() < next_check) continue;
    next_check = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(static_cast<int64_t>(r.watch_s * 1000));
    std::string key;
    try {
      auto now = refs::resolve_model(r.ref, ws);
      if (now.path == p.target.path) continue;
      key = now.version + "\n" + now.content_hash;
      if (key == failed) continue;
      tell(obs.on_info, fmt::format("{} moved to {}: loading it", r.ref, now.version));
      api.serve(load(now, p, r, logged, obs));
      p.target = now;
      failed.clear();
      tell(obs.on_info, fmt::format("serving {} = {}", p.api.model_id, now.version));
    } catch (const std::exception& e) {  // std::bad_alloc too: the server keeps serving
      if (!key.empty()) failed = key;
      if (e.what() == last_error) continue;  // a lasting fault is said once
      last_error = e.what();
      tell(obs.on_warning,
           fmt::format("--watch: {} (still serving the previous version{})", e.what(),
                       key.empty() ? "" : "; this version is not retried"));
    }
  }
}

}  // namespace

void serve(const ServeRequest& r, const Workspace* ws, const ServeObserver& obs) {
  auto p = plan(r, ws);
  // The interaction log lives in the project's tracking database; outside a project there is none.
  std::unique_ptr<InteractionLog> log;
  if (r.log && ws) {
    log = std::make_unique<InteractionLog>(open_tracking_db(*ws), r.log_retention_days);
    p.api.log = log.get();
    p.api.on_warning = obs.on_warning;
  }
  if (ws) p.api.feedback_scores = ws->config().feedback_scores;
  p.api.on_access = obs.on_access;
  // Listen first (so /health says 503 while the model loads), then load.
  OpenAiApi api(p.api);
  Listener listener(r.http, api);
  const auto url = listener.url(r.http.host);
  if (obs.on_listening) obs.on_listening(url);
  auto backend = load(p.target, p, r, log != nullptr, obs);
  tell(obs.on_info,
       fmt::format(
           "serving {} = {} ({} on {} as {}, {} slots of {} tokens{}) at {}/v1", p.api.model_id,
           p.target.version, backend->model->config().arch_name(), backend->model->device(),
           backend->model->dtype(), r.scheduler.slots, backend->scheduler->context(),
           r.adapters.empty() ? "" : fmt::format(", adapters: {}", fmt::join(r.adapters, " ")),
           url));
  tell(obs.on_info, log      ? fmt::format("logging interactions to {}", log->db().describe())
                    : !r.log ? std::string("not logging interactions (--no-log)")
                             : std::string("not logging interactions (no xops project here)"));
  if (p.candidate) {  // loaded before /health says 200: it answers from the first request
    api.serve_candidate(load(*p.candidate, p, r, log != nullptr, obs));
    tell(obs.on_info,
         p.api.compare == ApiOptions::Compare::Shadow
             ? fmt::format("shadow: {} answers {:g}% of requests after they are answered "
                           "(logged as arm shadow, never returned)",
                           p.candidate->version, 100 * p.api.shadow_rate)
             : fmt::format("canary: {} answers {:g}% of users (sticky per the request's "
                           "`user`; logged as arm canary)",
                           p.candidate->version, 100 * p.api.canary_share));
  }
  api.serve(backend);  // /health says 200 from here
  backend.reset();
  watch_until_stopped(r, ws, p, api, log != nullptr, obs);
  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish.
  tell(obs.on_info, "stopping: finishing requests in flight");
  listener.stop();
  api.serve(nullptr);  // the last version drains as it is released
  api.serve_candidate(nullptr);
  if (!obs.should_stop) interrupt::reset();
}

}  // namespace xops::app
