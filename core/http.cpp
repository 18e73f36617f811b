#include "core/http.hpp"

#include <mutex>

#include "core/error.hpp"
#include "core/util/plugin.hpp"

namespace xops::http {

Client& client() {
  static std::once_flag once;
  static Client* c = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    auto get = reinterpret_cast<Client* (*)(int)>(
        load_plugin_symbol("libxops_http.so", "XOPS_HTTP_LIB", "xops_http_client", &failure));
    if (get && !(c = get(kHttpAbi))) failure = "libxops_http.so was built for another ABI";
  });
  if (!c)
    throw runtime_error("cannot load the HTTP client: " + failure,
                        "keep libxops_http.so beside the xops binary (or set XOPS_HTTP_LIB)");
  return *c;
}

}  // namespace xops::http
