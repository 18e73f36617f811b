#pragma once
// A small HTTP client interface. cpp-httplib (and the OpenSSL/zlib/brotli it links) lives in
// libxops_http.so, dlopen'ed on first use, so commands that make no HTTP call never load it.
#include <map>
#include <memory>
#include <string>

namespace xops::http {

struct Response {
  int status = 0;  // 0 when no response arrived
  std::string body;
  std::string error;  // transport error text (connection refused, timeout, ...)
};

class Client {
 public:
  virtual ~Client() = default;
  // POST to a full URL (http:// or https://) with a JSON body.
  virtual Response post_json(const std::string& url, const std::string& body,
                             const std::map<std::string, std::string>& headers, int timeout_ms) = 0;
  virtual Response get(const std::string& url, const std::map<std::string, std::string>& headers,
                       int timeout_ms) = 0;
};

inline constexpr int kHttpAbi = 1;
Client& client();  // throws Error when the library cannot be loaded

}  // namespace xops::http

extern "C" xops::http::Client* xops_http_client(int abi);
