#pragma once
// A small HTTP server interface for `xops serve`. cpp-httplib lives in libxops_http.so
// (dlopen'ed on first use), so the main binary stays light; this header names no httplib type.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace xops::http {

struct ServerRequest {
  std::string method, path, body, remote_addr;
  std::string query;  // the raw query string after '?' ("" when none), not decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  // Whether the client has closed its side (a handler that computes for long polls it and
  // stops: nobody will read the answer). Unset: never.
  std::function<bool()> client_gone;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// `write` sends one chunk; false once the client has gone.
using ChunkWriter = std::function<bool(const std::string&)>;

struct ServerReply {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
  // Set: the body is streamed (chunked): called on the connection's thread until it returns
  // false; it writes through the writer and returns whether more is to come. A client that
  // goes away before that: it is called once more with a writer that fails, so it can stop
  // and clean up.
  std::function<bool(const ChunkWriter&)> stream;
};

using Handler = std::function<ServerReply(const ServerRequest&)>;

// The server is event-driven: a connection costs a socket and a buffer until its request has
// fully arrived; only then does a worker thread run the handler. Every limit below is checked
// where the bytes arrive (docs/security.md lists them with their flags).
struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: an ephemeral port (see Server::port)
  int threads = 64;               // handlers run at once (each open stream holds one)
  size_t max_queue = 1024;        // fully read requests waiting for a thread (503 beyond)
  size_t max_body = 1u << 20;     // a larger body, in any framing, gets 413 when it says so
  size_t max_header = 16u << 10;  // request line + headers (431 beyond)
  int header_timeout_s = 10;      // the whole header must arrive within this (not per line)
  int read_timeout_s = 30;        // the whole request (header and body)
  int idle_timeout_s = 30;        // a kept-alive connection waiting for its next request
  int write_timeout_s = 30;       // a client that reads nothing for this long is dropped
  size_t max_connections = 4096;  // open connections in all (the newest get 503 beyond)
  size_t max_per_client = 1024;   // open connections from one address
  // Runs on the headers alone, before any body byte is read (authentication): a reply here is
  // sent and the connection closed, so an unauthenticated client cannot make the server read
  // a body. Unset: every request is read.
  std::function<std::optional<ServerReply>(const ServerRequest&)> admit;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual int port() const = 0;  // the bound port
  virtual void run() = 0;        // serves until stop(); returns once in-flight replies end
  virtual void stop() = 0;       // stops accepting; safe from any thread
};

inline constexpr int kHttpServerAbi = 3;
// Binds (throws Error with the reason when the address is taken or invalid).
std::unique_ptr<Server> make_server(const ServerOptions& o, Handler h);

}  // namespace xops::http

extern "C" xops::http::Server* xops_http_server_create(int abi, const xops::http::ServerOptions* o,
                                                       xops::http::Handler* h, std::string* error);
