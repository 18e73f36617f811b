#pragma once
// `xops serve` as one use case: resolve the ref (and its adapters, system prompt), listen
// (/health says 503 while loading), load, serve until asked to stop; with `watch`, follow a
// registry stage and swap to the version it moves to (requests in flight finish on the old
// weights); on stop, finish the requests in flight. The command turns flags into a
// ServeRequest and prints the observer's events; tests call serve() directly.
#include <functional>
#include <string>
#include <vector>

#include "core/engine/language_model.hpp"
#include "core/plugins/http_server.hpp"
#include "core/serve/openai_api.hpp"
#include "core/serve/scheduler.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

struct ServeRequest {
  std::string ref;                    // a directory, an artifact or a registry ref (NAME#prod)
  std::vector<std::string> adapters;  // NAME=REF
  std::string name;                   // the model id clients use ("" = from the ref)
  std::string system_prompt;          // a file or a prompt artifact's ref ("" = none)
  std::string api_key;                // "" = no authentication (loopback only, unless insecure)
  bool insecure = false;
  http::ServerOptions http;
  SchedulerOptions scheduler;
  LoadOptions load;
  double timeout_s = 600;
  bool log = true;  // the interaction log (inside a project)
  int log_retention_days = 0;
  bool watch = false;
  double watch_s = 2;
  // A candidate beside it, compared on live traffic (at most one of the two):
  std::string shadow;        // answers a sample after the served answer is done (logged)
  double shadow_rate = 1.0;  // --shadow-rate
  std::string canary;        // answers this share of users itself: "REF=10%"
  // An index (NAME, NAME#prod, a path) for chat requests that ask for retrieval.
  std::string index;
  // A sentence encoder (a ref) that answers /v1/embeddings beside the served model.
  std::string embedding;
};

struct ServeObserver {
  std::function<void(const std::string& url)> on_listening;  // before the model loads
  std::function<void(const std::string&)> on_info;
  std::function<void(const std::string&)> on_warning;
  // Each finished request (from the request's thread; unset: nothing is reported).
  std::function<void(const AccessRecord&)> on_access;
  // Polled every 100 ms; unset: the process's interrupt flag (SIGINT/SIGTERM).
  std::function<bool()> should_stop;
};

// ws null: outside a project (no registry refs, no interaction log). Returns when asked to
// stop, after requests in flight finished. Throws usage/precondition errors before listening.
void serve(const ServeRequest& req, const Workspace* ws, const ServeObserver& obs = {});

}  // namespace xops::app
