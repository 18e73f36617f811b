#include "core/http.hpp"

#include "core/error.hpp"
#include "core/util/plugin.hpp"

namespace xops::http {

Client& client() {
  std::string failure;
  auto* c = plugin_instance<Client>("libxops_http.so", "XOPS_HTTP_LIB", "xops_http_client", kHttpAbi, &failure);
  if (!c)
    throw runtime_error("cannot load the HTTP client: " + failure,
                        "keep libxops_http.so beside the xops binary (or set XOPS_HTTP_LIB)");
  return *c;
}

}  // namespace xops::http
