#include "core/plugins/http.hpp"

#include "core/error.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::http {

Client& client() {
  return require_plugin<Client>("libxops_http.so", "XOPS_HTTP_LIB", "xops_http_client", kHttpAbi,
                                "HTTP client");
}

}  // namespace xops::http

#include "core/plugins/http_server.hpp"

namespace xops::http {

std::unique_ptr<Server> make_server(const ServerOptions& o, Handler h) {
  std::string failure;
  auto create = reinterpret_cast<decltype(&xops_http_server_create)>(
      load_plugin_symbol("libxops_http.so", "XOPS_HTTP_LIB", "xops_http_server_create", &failure));
  if (!create) throw_plugin_error("HTTP server", "libxops_http.so", "XOPS_HTTP_LIB", failure);
  std::string error;
  std::unique_ptr<Server> s(create(kHttpServerAbi, &o, &h, &error));
  if (!s) throw runtime_error(error.empty() ? "cannot start the HTTP server" : error);
  return s;
}

}  // namespace xops::http
