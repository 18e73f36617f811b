#include "core/app/ui.hpp"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "core/error.hpp"
#include "core/util/interrupt.hpp"

namespace xops::app {

void run_ui(const Workspace& ws, const UiRequest& r, const UiObserver& obs) {
  const auto& host = r.http.host;
  bool loopback =
      host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  // The UI has no authentication: what it shows (prompts, answers, feedback) stays on this
  // machine unless the user says otherwise.
  if (!loopback && !r.insecure)
    throw usage_error(fmt::format("refusing to serve the UI on {}: it has no authentication", host),
                      "use 127.0.0.1 (and an SSH tunnel), or --insecure on a trusted network");
  UiApi api(ws);
  auto handler = [&api, &obs](const http::ServerRequest& req) {
    auto start = std::chrono::steady_clock::now();
    auto reply = api.handle(req);
    if (obs.on_request)
      obs.on_request(
          req, reply.status,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    return reply;
  };
  auto server = http::make_server(r.http, handler);
  std::thread thread([&] { server->run(); });
  struct Joiner {  // stops and joins on every way out
    http::Server& s;
    std::thread& t;
    ~Joiner() {
      s.stop();
      if (t.joinable()) t.join();
    }
  } joiner{*server, thread};
  if (obs.on_listening)
    obs.on_listening(fmt::format("http://{}:{}",
                                 host.find(':') != std::string::npos ? "[" + host + "]" : host,
                                 server->port()));
  auto stop = obs.should_stop ? obs.should_stop : [] { return interrupt::requested(); };
  while (!stop()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!obs.should_stop) interrupt::reset();
}

}  // namespace xops::app
