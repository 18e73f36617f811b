// `xops serve REF`: an OpenAI-compatible server on the step-level decoder.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/context.hpp"
#include "commands/commands.hpp"
#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/http_server.hpp"
#include "core/model/model_ref.hpp"
#include "core/registry/promote.hpp"
#include "core/serve/interaction_log.hpp"
#include "core/serve/openai_api.hpp"
#include "core/serve/scheduler.hpp"
#include "core/store/pointer.hpp"
#include "core/tracking/tracking_db.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"
#include "core/workspace.hpp"

namespace xops::commands {

namespace {

struct ServeFlags {
  std::string ref;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key_env;
  bool insecure = false;
  std::vector<std::string> adapters;  // NAME=REF
  std::string name;
  int max_batch = 8;
  int max_queue = 64;
  int ctx = 0;
  int max_step_tokens = 256;
  int prefill_while_decoding = 64;
  double timeout_s = 600;
  int http_threads = 64;
  size_t max_body = 1u << 20;
  bool no_log = false;
  int log_retention_days = 0;
  bool watch = false;
  double watch_s = 2;
  std::string system_prompt;
};

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

const Workspace* maybe_workspace(cli::Context& ctx) {
  if (!Workspace::find_root(std::filesystem::current_path())) return nullptr;
  return &ctx.workspace();
}

int run_serve(cli::Context& ctx, const ServeFlags& f) {
  auto& out = ctx.out();
  ApiOptions ao;
  if (!f.api_key_env.empty()) {
    const char* k = std::getenv(f.api_key_env.c_str());
    if (!k || !*k)
      throw usage_error(
          fmt::format("--api-key-env {}: the variable is not set or empty", f.api_key_env),
          "export the key in that variable first");
    ao.api_key = k;
  }
  if (!loopback(f.host) && ao.api_key.empty() && !f.insecure)
    throw usage_error(
        fmt::format("refusing to serve on {} without an API key", f.host),
        "pass --api-key-env VAR (clients send 'Authorization: Bearer KEY'), or --insecure");
  // What the ref names now: a registry ref also gives its version (and can move: --watch).
  auto resolve_now = [&]() -> std::pair<std::filesystem::path, std::string> {
    if (const auto* w = maybe_workspace(ctx))
      if (auto rc = registry::resolve_content(*w, f.ref))
        return {rc->path, rc->version.artifact + "@" + rc->version.version};
    return {resolve_model_ref(f.ref, maybe_workspace(ctx)), f.ref};
  };
  auto [dir, version] = resolve_now();
  if (f.watch && version == f.ref)
    throw usage_error(fmt::format("--watch: '{}' is not a registry ref, so it cannot move", f.ref),
                      "serve NAME#STAGE (e.g. mymodel#prod) from inside the project");
  std::vector<std::pair<std::string, std::filesystem::path>> adapter_dirs;
  for (const auto& a : f.adapters) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size() || a.find(':') < eq)
      throw usage_error(fmt::format("--adapter '{}': expected NAME=REF", a),
                        "e.g. --adapter support=runs/lora-1/adapter");
    adapter_dirs.emplace_back(a.substr(0, eq),
                              resolve_model_ref(a.substr(eq + 1), maybe_workspace(ctx)));
  }
  ao.model_id = !f.name.empty() ? f.name
                : std::filesystem::is_directory(f.ref)
                    ? std::filesystem::path(f.ref).lexically_normal().filename().string()
                    : f.ref.substr(0, f.ref.find_first_of("@#"));
  if (ao.model_id.empty()) ao.model_id = "model";
  ao.timeout_s = f.timeout_s;
  if (!f.system_prompt.empty()) {  // a file, or a registry ref to a prompt artifact
    std::filesystem::path file = f.system_prompt;
    if (const auto* w = maybe_workspace(ctx); w && !std::filesystem::is_regular_file(file))
      if (auto rc = registry::resolve_content(*w, f.system_prompt)) file = rc->path;
    if (!std::filesystem::is_regular_file(file))
      throw precondition_error(
          fmt::format("--system-prompt '{}': not a file nor a registry reference to one",
                      f.system_prompt),
          "give a text file or a prompt artifact's ref (greeting#prod)");
    ao.system_prompt = read_file_limited(file, 1u << 20, "a system prompt");
  }
  // The interaction log lives in the project's tracking database; outside a project there is none.
  std::unique_ptr<InteractionLog> log;
  const auto* ws = maybe_workspace(ctx);
  if (!f.no_log && ws) {
    log = std::make_unique<InteractionLog>(open_tracking_db(*ws), f.log_retention_days);
    ao.log = log.get();
  }

  // Listen first (so /health says 503 while the model loads), then load.
  OpenAiApi api(ao);
  http::ServerOptions so;
  so.host = f.host;
  so.port = f.port;
  so.threads = f.http_threads;
  so.max_body = f.max_body;
  auto server =
      http::make_server(so, [&api](const http::ServerRequest& r) { return api.handle(r); });
  std::thread http([&] { server->run(); });
  struct Join {
    http::Server& s;
    std::thread& t;
    ~Join() {
      s.stop();
      if (t.joinable()) t.join();
    }
  } join{*server, http};
  const std::string url = fmt::format(
      "http://{}:{}", f.host.find(':') != std::string::npos ? "[" + f.host + "]" : f.host,
      server->port());
  out.line(fmt::format("listening on {}", url));
  std::fflush(stdout);

  const auto& s = ctx.settings();
  LoadOptions lo;
  lo.device = s.get("device").value;
  lo.dtype = s.get("dtype").value;
  lo.threads = s.get_int("threads");
  SchedulerOptions sc;
  sc.slots = f.max_batch;
  sc.context = f.ctx;
  sc.max_queue = f.max_queue;
  sc.max_step_tokens = f.max_step_tokens;
  sc.prefill_while_decoding = f.prefill_while_decoding;
  auto load = [&](const std::filesystem::path& ref_dir, const std::string& v) {
    auto b = std::make_shared<ServeBackend>();
    // A served adapter (NAME#prod of a LoRA adapter) brings its base; requests for the
    // served model get the adapter.
    auto d = ref_dir;
    if (is_adapter_dir(ref_dir)) {
      d = adapter_base(ref_dir, maybe_workspace(ctx));
      b->model = engine().load(d, lo);
      b->default_adapter = ao.model_id;
      b->adapters[ao.model_id] = b->model->add_adapter(ref_dir);
      if (log) b->adapter_hashes[ao.model_id] = content_hash_of(ref_dir);
    } else {
      b->model = engine().load(d, lo);
    }
    for (const auto& [name, adir] : adapter_dirs) {
      b->adapters[name] = b->model->add_adapter(adir);
      if (log) b->adapter_hashes[name] = content_hash_of(adir);
    }
    if (log) b->model_hash = content_hash_of(d);
    b->version = v;
    b->chat_template = load_chat_template(d);
    if (!b->chat_template.note.empty())
      out.warn(fmt::format("chat: using the built-in template: {}", b->chat_template.note));
    else if (!b->chat_template.source.empty())
      out.info("chat: using the model's chat_template (tokenizer_config.json)");
    b->scheduler = std::make_unique<Scheduler>(*b->model, sc);
    return b;
  };
  auto backend = load(dir, version);
  out.info(fmt::format(
      "serving {} = {} ({} on {} as {}, {} slots of {} tokens{}) at {}/v1", ao.model_id, version,
      backend->model->config().arch_name(), backend->model->device(), backend->model->dtype(),
      f.max_batch, backend->scheduler->context(),
      f.adapters.empty() ? "" : fmt::format(", adapters: {}", fmt::join(f.adapters, " ")), url));
  out.info(log        ? fmt::format("logging interactions to {}", log->db().describe())
           : f.no_log ? std::string("not logging interactions (--no-log)")
                      : std::string("not logging interactions (no xops project here)"));
  api.serve(backend);  // /health says 200 from here
  backend.reset();
  auto next_check = std::chrono::steady_clock::now();
  while (!interrupt::requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!f.watch || std::chrono::steady_clock::now() < next_check) continue;
    next_check = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(static_cast<int64_t>(f.watch_s * 1000));
    // The stage moved: load the new version beside the old, then switch; requests in flight
    // finish on the old weights, which go when the last of them ends.
    try {
      auto [d, v] = resolve_now();
      if (d == dir) continue;
      out.info(fmt::format("{} moved to {}: loading it", f.ref, v));
      api.serve(load(d, v));
      dir = d;
      out.info(fmt::format("serving {} = {}", ao.model_id, v));
    } catch (const Error& e) {
      out.warn(fmt::format("--watch: {} (still serving the previous version)", e.what()));
    }
  }
  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish, exit 0.
  out.info("stopping: finishing requests in flight");
  server->stop();
  if (http.joinable()) http.join();
  api.serve(nullptr);  // the last version drains as it is released
  interrupt::reset();
  return 0;
}

}  // namespace

void register_serve(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<ServeFlags>();
  auto* sub = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  sub->add_option("ref", f->ref, "Model: a directory, an artifact, or a registry ref (NAME#prod)")
      ->required();
  sub->add_option("--host", f->host,
                  "Address to listen on (non-loopback needs --api-key-env or --insecure)")
      ->capture_default_str();
  sub->add_option("--port", f->port, "Port (0: any free port; the first stdout line says which)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub->add_option("--api-key-env", f->api_key_env,
                  "Environment variable holding the API key clients must send");
  sub->add_flag("--insecure", f->insecure, "Allow a non-loopback address without an API key");
  sub->add_option("--adapter", f->adapters,
                  "NAME=REF: a LoRA adapter, requested as \"model\": \"BASE:NAME\" (repeatable)");
  sub->add_option("--name", f->name,
                  "Model id clients use (default: the directory or artifact name)");
  sub->add_option("--max-batch", f->max_batch, "Sequences decoded together")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub->add_option("--max-queue", f->max_queue, "Requests waiting for a slot before 429")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  sub->add_option("--ctx", f->ctx, "Tokens per sequence, prompt included (0: the model's maximum)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--prefill-while-decoding", f->prefill_while_decoding,
                  "Prompt tokens per step while other sequences decode (lower: steadier "
                  "inter-token latency)")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 16));
  sub->add_option("--max-step-tokens", f->max_step_tokens,
                  "Tokens one decoder step processes (prompts are chunked to fit)")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 16));
  sub->add_option("--timeout", f->timeout_s, "Seconds a request may run")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  sub->add_option("--http-threads", f->http_threads, "Connections served at once")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  sub->add_option("--max-body", f->max_body, "Largest request body in bytes (413 above)")
      ->capture_default_str();
  sub->add_option("--system-prompt", f->system_prompt,
                  "A system message for chat requests that bring none: a file or a prompt "
                  "artifact's ref (NAME#prod)");
  sub->add_flag("--watch", f->watch,
                "Follow a registry ref (NAME#prod): when its stage moves, load the new version and "
                "switch to it; "
                "requests in flight finish on the old one");
  sub->add_option("--watch-interval", f->watch_s,
                  "Seconds between checks of the stage tags with --watch")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_flag("--no-log", f->no_log,
                "Do not record requests and responses in the tracking database");
  sub->add_option("--log-retention", f->log_retention_days,
                  "Delete logged interactions older than DAYS (0: keep)")
      ->check(CLI::Range(0, 36500));
  for (const char* key : {"device", "dtype", "threads"}) {
    std::string k = key;
    sub->add_option_function<std::string>(
        "--" + k, [&ctx, k](const std::string& v) { ctx.setting_flags[k] = v; },
        "Override the `" + k + "` setting");
  }
  sub->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_serve(ctx, *f); }; });
}

}  // namespace xops::commands
