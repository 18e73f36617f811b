// The cpp-httplib side of core/http.hpp; built into libxops_http.so only.
#include <httplib.h>

#include "core/http.hpp"

namespace xops::http {
namespace {

struct Url {
  std::string scheme_host;  // "http://127.0.0.1:8080"
  std::string path;         // "/v1/chat/completions"
};

Url split(const std::string& url) {
  auto scheme_end = url.find("://");
  auto path_start = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

class HttplibClient final : public Client {
 public:
  Response post_json(const std::string& url, const std::string& body, const std::map<std::string, std::string>& headers,
                     int timeout_ms) override {
    return call(url, headers, timeout_ms, [&](httplib::Client& c, const std::string& path, const httplib::Headers& h) {
      return c.Post(path, h, body, "application/json");
    });
  }
  Response get(const std::string& url, const std::map<std::string, std::string>& headers, int timeout_ms) override {
    return call(url, headers, timeout_ms, [&](httplib::Client& c, const std::string& path, const httplib::Headers& h) {
      return c.Get(path, h);
    });
  }

 private:
  template <typename F>
  Response call(const std::string& url, const std::map<std::string, std::string>& headers, int timeout_ms, F&& f) {
    auto u = split(url);
    httplib::Client c(u.scheme_host);
    c.set_connection_timeout(std::chrono::milliseconds(std::min(timeout_ms, 10000)));
    c.set_read_timeout(std::chrono::milliseconds(timeout_ms));
    c.set_write_timeout(std::chrono::milliseconds(timeout_ms));
    httplib::Headers h;
    for (const auto& [k, v] : headers) h.emplace(k, v);
    Response r;
    auto res = f(c, u.path, h);
    if (!res) {
      r.error = httplib::to_string(res.error());
      return r;
    }
    r.status = res->status;
    r.body = res->body;
    return r;
  }
};

}  // namespace
}  // namespace xops::http

extern "C" __attribute__((visibility("default"))) xops::http::Client* xops_http_client(int abi) {
  static xops::http::HttplibClient c;
  return abi == xops::http::kHttpAbi ? &c : nullptr;
}
