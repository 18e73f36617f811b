#pragma once
// `xops ui`: a local web app over the project (runs, evals, registry, traffic) on a loopback
// port. The page and its script are embedded in the binary (no CDN: it works offline); the
// page is one client of the JSON API under /api/ (docs/ui.md documents it). Read-only.
#include <functional>
#include <memory>
#include <string>

#include "core/plugins/http_server.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

// The routes alone (tests call it without a socket): GET / and /assets/* (embedded), and the
// JSON API: /api/summary, /api/runs, /api/runs/ID, /api/evals, /api/evals/ID, /api/registry,
// /api/traffic, /api/interactions, /api/interactions/ID. Bad parameters: 400 {"error": ...}.
class UiApi {
 public:
  explicit UiApi(const Workspace& ws);
  http::ServerReply handle(const http::ServerRequest& r) const;

 private:
  const Workspace& ws_;
};

struct UiRequest {
  http::ServerOptions http;  // host (loopback unless insecure) and port
  bool insecure = false;
};

struct UiObserver {
  std::function<void(const std::string& url)> on_listening;
  std::function<void(const http::ServerRequest&, int status, double ms)> on_request;
  std::function<bool()> should_stop;  // unset: the process's interrupt flag
};

// Serves until asked to stop.
void run_ui(const Workspace& ws, const UiRequest& r, const UiObserver& obs = {});

}  // namespace xops::app
