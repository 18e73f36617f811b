// The cpp-httplib side of core/plugins/http.hpp; built into libxops_http.so only.
#include <httplib.h>

#include "core/plugins/http.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::http {
namespace {

struct Url {
  std::string scheme_host;  // "http://127.0.0.1:8080"
  std::string path;         // "/v1/chat/completions"
  std::string user, password;  // from "http://user:password@host" (sent as basic auth)
};

Url split(const std::string& url) {
  Url u;
  auto scheme_end = url.find("://");
  auto path_start = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  u.scheme_host = path_start == std::string::npos ? url : url.substr(0, path_start);
  u.path = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (scheme_end != std::string::npos) {
    auto at = u.scheme_host.rfind('@');
    if (at != std::string::npos && at > scheme_end) {
      auto info = u.scheme_host.substr(scheme_end + 3, at - scheme_end - 3);
      auto colon = info.find(':');
      u.user = info.substr(0, colon);
      u.password = colon == std::string::npos ? "" : info.substr(colon + 1);
      u.scheme_host = u.scheme_host.substr(0, scheme_end + 3) + u.scheme_host.substr(at + 1);
    }
  }
  return u;
}

// A response body larger than this is refused while it arrives (a provider once returned
// hundreds of megabytes into the cache).
constexpr size_t kMaxBody = 64u << 20;

class HttplibClient final : public Client {
 public:
  Response post_json(const std::string& url, const std::string& body, const std::map<std::string, std::string>& headers,
                     int timeout_ms) override {
    return call(url, headers, timeout_ms, "POST", body);
  }
  Response get(const std::string& url, const std::map<std::string, std::string>& headers, int timeout_ms) override {
    return call(url, headers, timeout_ms, "GET", "");
  }

 private:
  Response call(const std::string& url, const std::map<std::string, std::string>& headers, int timeout_ms,
                const char* method, const std::string& body) {
    auto u = split(url);
    httplib::Client c(u.scheme_host);
    c.set_connection_timeout(std::chrono::milliseconds(std::min(timeout_ms, 10000)));
    c.set_read_timeout(std::chrono::milliseconds(timeout_ms));
    c.set_write_timeout(std::chrono::milliseconds(timeout_ms));
    if (!u.user.empty() && !headers.count("Authorization")) c.set_basic_auth(u.user.c_str(), u.password.c_str());
    httplib::Headers h;
    for (const auto& [k, v] : headers) h.emplace(k, v);
    Response r;
    httplib::Request req;
    req.method = method;
    req.path = u.path;
    req.headers = h;
    if (req.method == "POST") {
      req.body = body;
      req.set_header("Content-Type", "application/json");
    }
    bool too_big = false;
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      if (r.body.size() + len > kMaxBody) {
        too_big = true;
        return false;
      }
      r.body.append(data, len);
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    if (!c.send(req, res, err)) {
      r.body.clear();
      r.error = too_big ? "the response is larger than 64 MiB" : httplib::to_string(err);
      return r;
    }
    r.status = res.status;
    return r;
  }
};

}  // namespace
}  // namespace xops::http

XOPS_PLUGIN_EXPORT xops::http::Client* xops_http_client(int abi) {
  static xops::http::HttplibClient c;
  return abi == xops::http::kHttpAbi ? &c : nullptr;
}

XOPS_PLUGIN_PROBE
