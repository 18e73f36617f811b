// `xops ui`: the project's runs, evals, registry and traffic in a browser, on loopback.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands/commands.hpp"
#include "core/app/ui.hpp"
#include "term/context.hpp"

namespace xops::commands {

namespace {

struct UiFlags {
  std::string host = "127.0.0.1";
  int port = 8765;
  bool insecure = false;
};

int run_ui(cli::Context& ctx, const UiFlags& f) {
  auto& out = ctx.out();
  app::UiRequest r;
  r.http.host = f.host;
  r.http.port = f.port;
  r.http.threads = 8;
  r.insecure = f.insecure;
  app::UiObserver obs;
  obs.on_listening = [&](const std::string& url) {
    out.line(fmt::format("listening on {}", url));
    out.info(fmt::format("open {}/ in a browser (Ctrl-C stops)", url));
    std::fflush(stdout);
  };
  if (out.options().verbosity >= 1)
    obs.on_request = [&](const http::ServerRequest& req, int status, double ms) {
      out.verbose(1, fmt::format("{} {} {} {:.1f}ms", req.method, req.path, status, ms));
    };
  app::run_ui(ctx.workspace(), r, obs);
  return 0;
}

}  // namespace

void register_ui(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<UiFlags>();
  auto* sub =
      app.add_subcommand("ui", "A local web view of runs, evals, the registry and served traffic");
  sub->add_option("--port", f->port, "Port (0: any free port; the first stdout line says which)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub->add_option("--host", f->host, "Address to listen on (loopback unless --insecure)")
      ->capture_default_str();
  sub->add_flag("--insecure", f->insecure,
                "Allow a non-loopback address (the UI has no authentication)");
  sub->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_ui(ctx, *f); }; });
}

}  // namespace xops::commands
