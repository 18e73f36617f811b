// The HTTP server behind core/plugins/http_server.hpp, built into libxops_http.so only.
//
// Event-driven (Boost.Beast on Asio): one I/O thread reads every connection with deadlines, so
// a client that sends its request slowly, or never finishes it, costs a socket and a buffer,
// not a thread. Only a request that has fully arrived goes to a worker thread, which runs the
// handler and hands its bytes back to the I/O thread to write (with a write deadline).
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/httplib/request_framing.hpp"
#include "core/plugins/http_server.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using Seconds = std::chrono::seconds;

// Fully read requests wait here for a thread; beyond max_queue they are refused (503).
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { work(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  bool push(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(f));
    }
    cv_.notify_one();
    return true;
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      f();
    }
  }
  size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

class BeastServer;

// One connection: read a request (header first, so `admit` runs before any body byte is
// read), hand it to a worker, write the reply, and again while the client keeps it alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, BeastServer& server, std::string addr)
      : stream_(std::move(s)), server_(server), addr_(std::move(addr)) {}
  ~Session();
  void start();
  void close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->stream_.socket().close();
    });
  }

 private:
  void read_header();
  void on_header(beast::error_code ec);
  void on_request(beast::error_code ec);
  void respond(ServerReply reply, bool keep_alive);
  void refuse(int status, const std::string& message);
  void run_handler(ServerRequest r, bool keep_alive);
  bool write_now(std::string bytes);
  void after_reply(bool keep_alive, bool ok);
  void linger();
  void drain(size_t drained);
  void read_body();
  ServerRequest request_of() const;

  beast::tcp_stream stream_;
  BeastServer& server_;
  std::string addr_;
  beast::flat_buffer buffer_;
  std::optional<framing::Parser> parser_;
  bool busy_ = false;  // a worker owns the reply: close() must not cut it off
  std::shared_ptr<std::array<char, 16384>> drain_;
};

class BeastServer final : public Server {
 public:
  BeastServer(const ServerOptions& o, Handler h)
      : o_(o), handler_(std::move(h)), acceptor_(ioc_), work_(net::make_work_guard(ioc_)) {
    raise_fd_limit();
    beast::error_code ec;
    auto address = net::ip::make_address(o.host, ec);
    if (ec) return;
    tcp::endpoint ep(address, static_cast<unsigned short>(std::max(0, o.port)));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return;
    port_ = acceptor_.local_endpoint().port();
    pool_ = std::make_unique<WorkerPool>(o.threads, o.max_queue);
  }
  ~BeastServer() override {
    stop();
    pool_.reset();
  }

  bool bound() const { return port_ > 0; }
  int port() const override { return port_; }
  void run() override {
    accept();
    ioc_.run();
    pool_.reset();  // in-flight handlers have ended: their sessions are gone
  }
  void stop() override {
    net::post(ioc_, [this] {
      if (stopping_) return;
      stopping_ = true;
      beast::error_code ec;
      acceptor_.close(ec);
      std::vector<std::shared_ptr<Session>> live;
      {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto& [p, w] : sessions_)
          if (auto s = w.lock()) live.push_back(s);
      }
      for (auto& s : live) s->close();  // idle ones close; busy ones finish their reply first
      maybe_finish();
    });
  }

  const ServerOptions& options() const { return o_; }
  const Handler& handler() const { return handler_; }
  bool stopping() const { return stopping_; }
  bool dispatch(std::function<void()> f) { return pool_->push(std::move(f)); }

  void forget(Session* s, const std::string& addr) {
    std::lock_guard<std::mutex> lk(mu_);
    sessions_.erase(s);
    if (--per_client_[addr] == 0) per_client_.erase(addr);
    if (sessions_.empty()) net::post(ioc_, [this] { maybe_finish(); });
  }

 private:
  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || stopping_) return;
        // EMFILE and the like: wait a moment instead of spinning on the error.
        auto t = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(50));
        t->async_wait([this, t](beast::error_code) { accept(); });
        return;
      }
      admit(std::move(s));
      accept();
    });
  }

  void admit(tcp::socket s) {
    beast::error_code ec;
    auto remote = s.remote_endpoint(ec);
    if (ec) return;
    std::string addr = remote.address().to_string();
    s.set_option(tcp::no_delay(true), ec);
    bool over = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      over = sessions_.size() >= o_.max_connections || per_client_[addr] >= o_.max_per_client;
      if (per_client_[addr] == 0 && over) per_client_.erase(addr);
    }
    if (over) {  // a short answer, without reading: the client learns why
      static const std::string busy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: "
          "close\r\nRetry-After: 1\r\nContent-Length: " +
          std::to_string(framing::error_body("too many open connections").size()) + "\r\n\r\n" +
          framing::error_body("too many open connections");
      s.non_blocking(true, ec);
      s.send(net::buffer(busy), 0, ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    auto session = std::make_shared<Session>(std::move(s), *this, addr);
    {
      std::lock_guard<std::mutex> lk(mu_);
      sessions_[session.get()] = session;
      ++per_client_[addr];
    }
    session->start();
  }

  void maybe_finish() {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && sessions_.empty()) work_.reset();
  }

  // 512 idle connections need more than the usual 1024 descriptors' headroom.
  static void raise_fd_limit() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
      r.rlim_cur = std::min<rlim_t>(r.rlim_max, 65536);
      setrlimit(RLIMIT_NOFILE, &r);
    }
  }

  ServerOptions o_;
  Handler handler_;
  // Declared before the io_context: a session still held by a pending handler when the
  // context is destroyed unregisters itself here, so these must outlive it.
  std::mutex mu_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;
  std::map<std::string, size_t> per_client_;
  std::atomic<bool> stopping_{false};
  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::unique_ptr<WorkerPool> pool_;
  int port_ = -1;
};

Session::~Session() {
  server_.forget(this, addr_);
}

void Session::start() {
  // Unparsed bytes only: the body moves into the request as it is parsed, and the header stops
  // at max_header, but Beast 1.74 bounds neither a chunk's extension nor the trailer.
  buffer_.max_size(framing::buffer_limit(server_.options().max_header));
  read_header();
}

void Session::read_header() {
  if (server_.stopping()) {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    return;
  }
  const auto& o = server_.options();
  parser_.emplace();
  framing::limit(*parser_, o.max_header, o.max_body);
  // One deadline for the whole header (a line every few seconds does not extend it); a kept
  // alive connection with nothing buffered gets the idle time to start its next request.
  stream_.expires_after(Seconds(buffer_.size() ? o.header_timeout_s
                                               : std::max(o.idle_timeout_s, o.header_timeout_s)));
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

ServerRequest Session::request_of() const {
  const auto& m = parser_->get();
  ServerRequest r;
  r.method = std::string(m.method_string());
  std::string target(m.target());
  r.path = target.substr(0, target.find('?'));
  if (auto q = target.find('?'); q != std::string::npos) r.query = target.substr(q + 1);
  r.remote_addr = addr_;
  for (const auto& f : m) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r.headers[name] = std::string(f.value());
  }
  return r;
}

void Session::on_header(beast::error_code ec) {
  const auto& o = server_.options();
  if (ec) {
    auto why = framing::refusal(ec, o.max_header, o.max_body);
    if (why.status) return refuse(why.status, why.message);
    return;  // gone, timed out, or closed by stop(): the session ends here
  }
  if (o.admit) {
    auto head = request_of();
    if (auto early = o.admit(head)) {
      early->headers["Connection"] = "close";
      return respond(std::move(*early), false);  // the body is never read
    }
  }
  stream_.expires_after(Seconds(o.read_timeout_s));
  const auto& expect = parser_->get()[bhttp::field::expect];
  if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
    // The client waits for this before it sends the body (curl does for large ones).
    static const std::string go = "HTTP/1.1 100 Continue\r\n\r\n";
    return net::async_write(stream_, net::buffer(go),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (!ec) self->read_body();
                            });
  }
  read_body();
}

void Session::read_body() {
  bhttp::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
}

void Session::on_request(beast::error_code ec) {
  const auto& o = server_.options();
  if (ec) {
    auto why = framing::refusal(ec, o.max_header, o.max_body);
    if (why.status) refuse(why.status, why.message);
    return;
  }
  stream_.expires_never();
  auto r = request_of();
  r.body = std::move(parser_->get().body());
  const bool keep_alive = parser_->get().keep_alive();
  // The client has closed its side (peer shutdown or reset): nobody will read the answer.
  const int fd = stream_.socket().native_handle();
  r.client_gone = [fd] {
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
  };
  busy_ = true;
  auto self = shared_from_this();
  if (!server_.dispatch([self, r = std::move(r), keep_alive]() mutable {
        self->run_handler(std::move(r), keep_alive);
      })) {
    busy_ = false;
    refuse(503, "the server is at capacity (every thread is busy and its queue is full)");
  }
}

void Session::refuse(int status, const std::string& message) {
  ServerReply r;
  r.status = status;
  r.body = framing::error_body(message);
  r.headers["Connection"] = "close";
  respond(std::move(r), false);
}

// On the I/O strand: a whole reply, then the next request or the end.
void Session::respond(ServerReply reply, bool keep_alive) {
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
  res->result(static_cast<unsigned>(reply.status));
  res->version(11);
  res->set(bhttp::field::content_type, reply.content_type);
  for (const auto& [k, v] : reply.headers) res->set(k, v);
  res->body() = std::move(reply.body);
  res->keep_alive(keep_alive);
  res->prepare_payload();
  stream_.expires_after(Seconds(server_.options().write_timeout_s));
  bhttp::async_write(stream_, *res,
                     [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                       self->after_reply(keep_alive, !ec);
                     });
}

void Session::after_reply(bool keep_alive, bool ok) {
  busy_ = false;
  if (!ok) return;
  if (!keep_alive) return linger();
  read_header();
}

// After a last reply the client may still be sending a body nobody reads (an unauthenticated
// upload, an oversized one): closing now would reset the connection and could destroy the
// reply in the client's buffers. Half-close, then drain for a moment, bounded in bytes.
void Session::linger() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(Seconds(2));
  drain_ = std::make_shared<std::array<char, 16384>>();
  drain(0);
}

void Session::drain(size_t drained) {
  if (drained > (4u << 20)) return;
  stream_.async_read_some(net::buffer(*drain_),
                          [self = shared_from_this(), drained](beast::error_code ec, size_t n) {
                            if (!ec) self->drain(drained + n);
                          });
}

// From a worker: hands bytes to the I/O strand and waits until they are written (or the
// write deadline passes). False once the client is gone.
bool Session::write_now(std::string bytes) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  net::post(stream_.get_executor(), [self = shared_from_this(), done, b = std::move(bytes)] {
    auto buf = std::make_shared<std::string>(std::move(b));
    self->stream_.expires_after(Seconds(self->server_.options().write_timeout_s));
    net::async_write(self->stream_, net::buffer(*buf),
                     [done, buf](beast::error_code ec, size_t) { done->set_value(!ec); });
  });
  return result.get();
}

std::string chunk(const std::string& s) {
  char size[32];
  snprintf(size, sizeof size, "%zx\r\n", s.size());
  return size + s + "\r\n";
}

void Session::run_handler(ServerRequest r, bool keep_alive) {
  ServerReply reply;
  try {
    reply = server_.handler()(r);
  } catch (const std::exception& e) {
    reply = ServerReply{};
    reply.status = 500;
    reply.body = framing::error_body(std::string("internal error: ") + e.what());
  }
  if (!reply.stream) {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), rep = std::move(reply), keep_alive]() mutable {
                self->respond(std::move(rep), keep_alive);
              });
    return;
  }
  // A stream: the header, then one chunk per call, written from this thread.
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                     std::string(bhttp::obsolete_reason(bhttp::int_to_status(reply.status))) +
                     "\r\nContent-Type: " + reply.content_type +
                     "\r\nTransfer-Encoding: chunked\r\n";
  for (const auto& [k, v] : reply.headers) head += k + ": " + v + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  bool ok = write_now(head + "\r\n");
  auto writer = [&](const std::string& s) {
    if (ok && !s.empty()) ok = write_now(chunk(s));
    return ok;
  };
  bool more = true;
  while (more) {
    more = reply.stream(writer);
    if (!ok) break;
  }
  // Gone before the stream said it was done: once more with a writer that fails, so it can
  // stop its work and clean up (the contract in http_server.hpp).
  if (!ok && more) reply.stream([](const std::string&) { return false; });
  if (ok) ok = write_now("0\r\n\r\n");
  net::post(stream_.get_executor(),
            [self = shared_from_this(), keep_alive, ok] { self->after_reply(keep_alive, ok); });
}

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
  auto s = std::make_unique<xops::http::BeastServer>(*o, *h);
  if (!s->bound()) {
    *error = "cannot listen on " + o->host + ":" + std::to_string(o->port) +
             " (address in use, or not an address of this machine)";
    return nullptr;
  }
  return s.release();
}
