// The cpp-httplib side of core/plugins/http_server.hpp; built into libxops_http.so only.
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "core/plugins/http_server.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::http {
namespace {

class HttplibServer final : public Server {
 public:
  HttplibServer(const ServerOptions& o, Handler h) : handler_(std::move(h)) {
    const int threads = std::max(1, o.threads);
    svr_.new_task_queue = [threads] {
      return new httplib::ThreadPool(static_cast<size_t>(threads));
    };
    svr_.set_payload_max_length(o.max_body);
    svr_.set_read_timeout(o.read_timeout_s, 0);
    svr_.set_keep_alive_max_count(1000);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a
    // taken port starts and silently takes half the traffic.
    svr_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // Every method and path goes to the one handler (it owns routing and error bodies).
    auto all = [this](const httplib::Request& req, httplib::Response& res) {
      ServerRequest r;
      r.method = req.method;
      r.path = req.path;
      r.body = req.body;
      r.remote_addr = req.remote_addr;
      for (const auto& [k, v] : req.headers) {
        std::string lower = k;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        r.headers[lower] = v;
      }
      auto reply = handler_(r);
      res.status = reply.status;
      for (const auto& [k, v] : reply.headers) res.set_header(k, v);
      if (reply.stream) {
        auto stream = std::move(reply.stream);
        auto finished = std::make_shared<bool>(false);  // the stream returned false
        res.set_chunked_content_provider(
            reply.content_type,
            [stream, finished](size_t, httplib::DataSink& sink) {
              bool more = stream([&sink](const std::string& s) {
                return sink.is_writable() && sink.write(s.data(), s.size());
              });
              if (!more) {
                *finished = true;
                sink.done();
              }
              return true;
            },
            // httplib stops calling the provider when it finds the client gone; the stream
            // must still learn it (to cancel the generation and log it): once more, with a
            // writer that fails.
            [stream, finished](bool) {
              if (!*finished) stream([](const std::string&) { return false; });
            });
      } else {
        res.set_content(reply.body, reply.content_type);
      }
    };
    const std::string any = ".*";
    svr_.Get(any, all).Post(any, all).Put(any, all).Delete(any, all).Patch(any, all).Options(any,
                                                                                             all);
    // A body over the limit: httplib answers 413 before any handler runs; give it a JSON body.
    svr_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty())
        res.set_content("{\"error\":{\"message\":\"request rejected (HTTP " +
                            std::to_string(res.status) +
                            ")\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}",
                        "application/json");
    });
    port_ = o.port == 0 ? svr_.bind_to_any_port(o.host)
                        : (svr_.bind_to_port(o.host, o.port) ? o.port : -1);
  }

  bool bound() const { return port_ > 0; }
  int port() const override { return port_; }
  void run() override { svr_.listen_after_bind(); }
  void stop() override { svr_.stop(); }

 private:
  Handler handler_;
  httplib::Server svr_;
  int port_ = -1;
};

}  // namespace
}  // namespace xops::http

XOPS_PLUGIN_EXPORT xops::http::Server* xops_http_server_create(int abi,
                                                               const xops::http::ServerOptions* o,
                                                               xops::http::Handler* h,
                                                               std::string* error) {
  if (abi != xops::http::kHttpServerAbi) {
    *error = "libxops_http.so was built for another ABI";
    return nullptr;
  }
  auto s = std::make_unique<xops::http::HttplibServer>(*o, *h);
  if (!s->bound()) {
    *error = "cannot listen on " + o->host + ":" + std::to_string(o->port) +
             " (address in use, or not an address of this machine)";
    return nullptr;
  }
  return s.release();
}
