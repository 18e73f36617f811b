// `xops serve REF`: an OpenAI-compatible server on the step-level decoder.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "commands/commands.hpp"
#include "core/app/serve_session.hpp"
#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/util/json_error.hpp"
#include "term/context.hpp"

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
  int max_step_tokens = 1024;
  int prefill_while_decoding = 64;
  bool no_prefix_cache = false;
  int burst_window_ms = 10;
  double timeout_s = 600;
  int http_threads = 64;
  size_t max_body = 1u << 20;
  int read_timeout_s = 30;
  size_t max_connections = 4096;
  size_t max_per_client = 1024;
  bool no_log = false;
  int log_retention_days = 0;
  bool watch = false;
  double watch_s = 2;
  std::string system_prompt;
  std::string shadow, canary;
  double shadow_rate = 1.0;
  std::string index, embedding;
};

app::ServeRequest request(cli::Context& ctx, const ServeFlags& f) {
  const auto& s = ctx.settings();
  app::ServeRequest r;
  if (!f.api_key_env.empty()) {
    const char* k = std::getenv(f.api_key_env.c_str());
    if (!k || !*k)
      throw usage_error(
          fmt::format("--api-key-env {}: the variable is not set or empty", f.api_key_env),
          "export the key in that variable first");
    r.api_key = k;
  }
  r.ref = f.ref;
  r.adapters = f.adapters;
  r.name = f.name;
  r.system_prompt = f.system_prompt;
  r.index = f.index;
  r.embedding = f.embedding;
  r.insecure = f.insecure;
  r.http.host = f.host;
  r.http.port = f.port;
  r.http.threads = f.http_threads;
  r.http.max_body = f.max_body;
  r.http.read_timeout_s = f.read_timeout_s;
  r.http.idle_timeout_s = f.read_timeout_s;
  r.http.write_timeout_s = f.read_timeout_s;
  r.http.header_timeout_s = std::min(10, f.read_timeout_s);
  r.http.max_connections = f.max_connections;
  r.http.max_per_client = f.max_per_client;
  r.scheduler.slots = f.max_batch;
  r.scheduler.context = f.ctx;
  r.scheduler.max_queue = f.max_queue;
  r.scheduler.max_step_tokens = f.max_step_tokens;
  r.scheduler.prefill_while_decoding = f.prefill_while_decoding;
  r.scheduler.prefix_cache = !f.no_prefix_cache;
  r.scheduler.burst_window_ms = f.burst_window_ms;
  r.timeout_s = f.timeout_s;
  r.log = !f.no_log;
  r.log_retention_days = f.log_retention_days;
  r.watch = f.watch;
  r.watch_s = f.watch_s;
  r.shadow = f.shadow;
  r.shadow_rate = f.shadow_rate;
  r.canary = f.canary;
  r.load.device = s.get("device").value;
  r.load.dtype = s.get("dtype").value;
  r.load.threads = s.get_int("threads");
  return r;
}

// "POST /v1/completions 200 m@v0.0.2 in=5 out=16 12.3ms cmpl-01J..." (a refusal: its code).
std::string access_line(const AccessRecord& a) {
  std::string line =
      fmt::format("{} {} {} {}", a.method, a.path, a.status, a.version.empty() ? "-" : a.version);
  if (!a.adapter.empty()) line += ":" + a.adapter;
  if (a.prompt_tokens || a.completion_tokens)
    line += fmt::format(" in={} out={}", a.prompt_tokens, a.completion_tokens);
  line += fmt::format(" {:.1f}ms", a.latency_ms);
  if (!a.id.empty()) line += " " + a.id;
  if (!a.error_code.empty()) line += " " + a.error_code;
  return escape_control(line);
}

int run_serve(cli::Context& ctx, const ServeFlags& f) {
  auto& out = ctx.out();
  auto r = request(ctx, f);
  const auto* ws = ctx.workspace_if_any();
  app::ServeObserver obs;
  obs.on_listening = [&](const std::string& url) {
    out.line(fmt::format("listening on {}", url));
    std::fflush(stdout);
  };
  obs.on_info = [&](const std::string& s) { out.info(s); };
  obs.on_warning = [&](const std::string& s) { out.warn(s); };
  if (out.options().verbosity >= 1)  // -v: an access-log line per request, on stderr
    obs.on_access = [&](const AccessRecord& a) { out.verbose(1, access_line(a)); };
  app::serve(r, ws, obs);
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
  sub->add_option("--shadow", f->shadow,
                  "REF: a candidate that also answers each request after its answer is sent "
                  "(logged as arm shadow, never returned; `xops eval --from-logs --pairwise` "
                  "judges the pairs)");
  sub->add_option("--shadow-rate", f->shadow_rate, "Share of requests the shadow answers")
      ->capture_default_str();
  sub->add_option("--canary", f->canary,
                  "REF=P%: a candidate that answers P% of users (sticky per the request's `user`; "
                  "logged as arm canary)");
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
  sub->add_flag("--no-prefix-cache", f->no_prefix_cache,
                "Prefill every prompt in full (by default a slot keeps its last sequence's KV "
                "rows and a prompt starting with cached tokens skips their prefill)");
  sub->add_option("--burst-window", f->burst_window_ms,
                  "Milliseconds an idle server waits for a burst's other requests (until 2 ms "
                  "pass without one) so their prompts share one step; 0: start at once")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  sub->add_option("--max-step-tokens", f->max_step_tokens,
                  "Tokens one decoder step processes (prompts are chunked to fit)")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 16));
  sub->add_option("--timeout", f->timeout_s, "Seconds a request may run")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  sub->add_option("--http-threads", f->http_threads,
                  "Requests handled at once (each open stream holds one; idle or slow "
                  "connections hold none)")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  sub->add_option("--max-body", f->max_body,
                  "Largest request body in bytes, chunked or not (413 above)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));
  sub->add_option("--read-timeout", f->read_timeout_s,
                  "Seconds a client has to send a whole request (its header: at most 10), to "
                  "start its next one, and to read each part of the answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  sub->add_option("--max-connections", f->max_connections, "Open connections in all (503 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  sub->add_option("--max-connections-per-client", f->max_per_client,
                  "Open connections from one address (503 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  sub->add_option("--system-prompt", f->system_prompt,
                  "A system message for chat requests that bring none: a file or a prompt "
                  "artifact's ref (NAME#prod)");
  sub->add_option(
      "--index", f->index,
      "An index (NAME, NAME#prod, a path) for chat requests that send \"retrieval\": true or "
      "{k, where, query}: its best chunks go first in the context, and are logged");
  sub->add_option(
      "--embedding", f->embedding,
      "A sentence encoder (a BERT-family model ref) that answers /v1/embeddings beside the "
      "served model, under its name");
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
