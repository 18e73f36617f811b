// Attacks on `xops serve`'s HTTP front end (#26 findings 4 and 5): bodies in any framing are
// bounded before authentication, declared lengths are judged at once, slow and half-open
// clients hold no thread, pipelined requests each get their answer, and a client that hangs up
// stops its generation. Raw sockets, so the bytes on the wire are exactly the attack's.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/model/safetensors.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

using namespace xops;
using namespace xops::test;
using Clock = std::chrono::steady_clock;

namespace {

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// Sends what it can (false once the peer refuses more).
bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    auto n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Everything the server sends until it closes or `wait` passes.
std::string read_until_close(int fd, std::chrono::milliseconds wait) {
  std::string out;
  auto until = Clock::now() + wait;
  char buf[65536];
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count());
    if (poll(&p, 1, std::max(1, left)) <= 0) break;
    auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int status_of(const std::string& response) {
  return response.size() > 12 && response.rfind("HTTP/1.1 ", 0) == 0
             ? std::atoi(response.c_str() + 9)
             : 0;
}

// Whether the server has closed (or reset) the connection.
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) <= 0;
}

// gpt2-tiny with a 4096-token context (its position table tiled): a generation long enough to
// hang up on.
std::filesystem::path long_context_model(const std::filesystem::path& dir) {
  auto out = dir / "gpt2-long";
  std::filesystem::create_directories(out);
  for (const auto& e : std::filesystem::directory_iterator(model_dir()))
    if (e.path().filename() != "model.safetensors" && e.path().filename() != "model.gguf")
      std::filesystem::copy_file(e.path(), out / e.path().filename());
  auto config = nlohmann::json::parse(read_file(out / "config.json"));
  const int64_t positions = 4096;
  config["n_positions"] = config["n_ctx"] = positions;
  atomic_write_file(out / "config.json", config.dump());
  auto in = SafetensorsFile::open(std::filesystem::path(model_dir()) / "model.safetensors");
  std::vector<TensorToWrite> ts;
  std::vector<char> wpe;
  for (const auto& t : in->tensors()) {
    if (t.name.find("wpe") == std::string::npos) {
      ts.push_back({t.name, t.dtype, t.shape, t.data, t.nbytes});
      continue;
    }
    for (int64_t i = 0; i < positions / t.shape[0]; ++i)
      wpe.insert(wpe.end(), static_cast<const char*>(t.data),
                 static_cast<const char*>(t.data) + t.nbytes);
    ts.push_back({t.name, t.dtype, {positions, t.shape[1]}, wpe.data(), wpe.size()});
  }
  write_safetensors(out / "model.safetensors", ts);
  return out;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

TEST_CASE("attack: a chunked body over --max-body is refused while it arrives", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {"--max-body", "65536"});
  int fd = connect_to(s.port());
  send_all(fd,
           "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\n");
  const std::string piece(64 * 1024, 'a');
  char size[16];
  snprintf(size, sizeof size, "%zx\r\n", piece.size());
  size_t sent = 0;
  // 200 MB offered: the server must stop it long before (the old server read it all).
  while (sent < (200u << 20) && send_all(fd, size + piece + "\r\n")) {
    sent += piece.size();
    if (closed_by_server(fd)) break;
  }
  auto r = read_until_close(fd, std::chrono::seconds(5));
  close(fd);
  CHECK(sent < (16u << 20));  // what the socket buffers hold, not the body
  if (!r.empty()) {
    CHECK(status_of(r) == 413);
    CHECK(r.find("--max-body") != std::string::npos);
  }
  CHECK(s.get("/health").status == 200);
}

// Beast 1.74 bounds neither a chunk's extension nor the trailer (boostorg/beast#3077 added an
// 8 KB limit upstream): both sit unparsed in the connection's read buffer until their line ends.
TEST_CASE("attack: an endless chunk extension or trailer is cut off, not buffered",
          "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {});
  for (std::string start : {std::string("1;x="), std::string("0\r\nX-Trailer: ")}) {
    INFO(start);
    int fd = connect_to(s.port());
    send_all(fd,
             "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n" +
                 start);
    const std::string piece(64 * 1024, 'a');
    size_t sent = 0;
    while (sent < (200u << 20) && send_all(fd, piece)) {
      sent += piece.size();
      if (closed_by_server(fd)) break;
    }
    auto r = read_until_close(fd, std::chrono::seconds(5));
    close(fd);
    CHECK(sent < (16u << 20));  // what the socket buffers hold, not the line
    if (!r.empty()) {
      CHECK(status_of(r) == 431);
      CHECK(r.find("\"error\"") != std::string::npos);
    }
  }
  // Extensions and trailers of a sane size still work, and so does a body that arrives a byte
  // at a time (Beast 1.74 asserts on a final chunk split so in debug builds: boostorg/beast#2861).
  const std::string body = R"({"prompt":"hi","max_tokens":1})";
  const std::string wire =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      fmt::format("{:x};part=one\r\n{}\r\n", 10, body.substr(0, 10)) +
      fmt::format("{:x}\r\n{}\r\n", body.size() - 10, body.substr(10)) +
      "0\r\nX-Trailer: " + std::string(1000, 't') + "\r\n\r\n";
  int fd = connect_to(s.port());
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (size_t i = 0; i < wire.size(); ++i) {
    REQUIRE(send_all(fd, wire.substr(i, 1)));
    if (i + 8 > wire.size()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto r = read_until_close(fd, std::chrono::seconds(20));
  close(fd);
  CHECK(status_of(r) == 200);
  CHECK(r.find("\"text_completion\"") != std::string::npos);
}

TEST_CASE("attack: declared lengths are judged from the header at once", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {});
  for (auto [length, want] :
       {std::pair{"1000000000000000", 413}, std::pair{"-5", 400}, std::pair{"12abc", 400}}) {
    INFO(length);
    int fd = connect_to(s.port());
    auto t0 = Clock::now();
    send_all(fd, std::string("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ") +
                     length + "\r\n\r\n");
    auto r = read_until_close(fd, std::chrono::seconds(10));
    close(fd);
    CHECK(status_of(r) == want);
    CHECK(seconds_since(t0) < 3);  // the old server held each for its 30 s read timeout
    CHECK(r.find("\"error\"") != std::string::npos);
  }
}

TEST_CASE("attack: without the API key no body byte is read", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {"--api-key-env", "ATTACK_KEY", "--max-body", "1073741824"},
           {{"ATTACK_KEY", "sekrit"}});
  int fd = connect_to(s.port());
  auto t0 = Clock::now();
  // 400 MB announced, none sent: the 401 must come from the header alone.
  send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 400000000\r\n\r\n");
  auto r = read_until_close(fd, std::chrono::seconds(10));
  close(fd);
  CHECK(status_of(r) == 401);
  CHECK(seconds_since(t0) < 3);
  // With the key the same route reads the body and answers.
  auto ok = s.post("/v1/completions", R"({"prompt":"Hi","max_tokens":2})",
                   {"-H", "Authorization: Bearer sekrit"});
  CHECK(ok.status == 200);
  CHECK(s.get("/health").status == 200);
}

TEST_CASE("attack: half-open and slow clients hold no thread", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {"--http-threads", "4", "--read-timeout", "3"});
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {  // 50x the threads; the old server stopped at 4
    int fd = connect_to(s.port());
    send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n");
    fds.push_back(fd);
  }
  auto t0 = Clock::now();
  auto h = s.get("/health");
  CHECK(h.status == 200);
  CHECK(seconds_since(t0) < 1.0);
  auto c = s.post("/v1/completions", R"({"prompt":"Hi","max_tokens":3})");
  CHECK(c.status == 200);

  // A header line every second does not extend the header's deadline (3 s here).
  int drip = connect_to(s.port());
  send_all(drip, "GET /health HTTP/1.1\r\n");
  auto d0 = Clock::now();
  bool closed = false;
  while (seconds_since(d0) < 10 && !closed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    closed = !send_all(drip, "X-Drip: 1\r\n") || closed_by_server(drip);
  }
  CHECK(closed);
  CHECK(seconds_since(d0) < 6);
  close(drip);
  // The half-open ones are gone too, by the same deadline.
  int still_open = 0;
  for (int fd : fds) {
    if (!closed_by_server(fd)) ++still_open;
    close(fd);
  }
  CHECK(still_open == 0);
}

TEST_CASE("attack: pipelined requests each get their answer, in order", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {});
  int fd = connect_to(s.port());
  send_all(fd,
           "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto r = read_until_close(fd, std::chrono::seconds(10));
  close(fd);
  std::vector<int> statuses;
  for (size_t at = r.find("HTTP/1.1 "); at != std::string::npos; at = r.find("HTTP/1.1 ", at + 1))
    statuses.push_back(std::atoi(r.c_str() + at + 9));
  CHECK(statuses == std::vector<int>{200, 200, 404});
  CHECK(r.find("gpt2-tiny") != std::string::npos);
}

TEST_CASE("attack: a client that hangs up stops its generation", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {long_context_model(tmp.path()).string(), "--max-batch", "1"});
  int fd = connect_to(s.port());
  const std::string body =
      R"({"prompt":"Once upon a time","max_tokens":100000,"ignore_eos":true,"temperature":0})";
  send_all(fd,
           "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  close(fd);
  // Its only slot frees: the next request is answered, and /metrics counts a 499.
  auto c = s.post("/v1/completions", R"({"prompt":"Hi","max_tokens":2})");
  CHECK(c.status == 200);
  std::string metrics;
  for (int i = 0; i < 50 && metrics.find("status=\"499\"") == std::string::npos; ++i) {
    metrics = s.get("/metrics").body;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(metrics.find("status=\"499\"") != std::string::npos);
}

namespace {

// gpt2-tiny with `chat_template` in its tokenizer_config.json.
std::filesystem::path with_chat_template(const std::filesystem::path& m, const std::string& t) {
  std::filesystem::copy(model_dir(), m, std::filesystem::copy_options::recursive);
  auto cfg = nlohmann::json::parse(read_file(m / "tokenizer_config.json"));
  cfg["chat_template"] = t;
  atomic_write_file(m / "tokenizer_config.json", cfg.dump());
  return m;
}

const std::string kExplode =
    "{% set s = 'ab' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}";

}  // namespace

TEST_CASE("attack: a chat template that explodes on one message costs that request only",
          "[e2e][attack]") {
  TempDir tmp;
  auto m =
      with_chat_template(tmp / "boom", "{% for m in messages %}{% if 'boom' in m.content %}" +
                                           kExplode + "{% endif %}{{ m.content }}\n{% endfor %}");
  Server s(tmp.path(), {m.string()});
  auto chat = [&](const std::string& text) {
    return s.post(
        "/v1/chat/completions",
        nlohmann::json{{"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", 3}}
            .dump());
  };
  auto t0 = Clock::now();
  auto boom = chat("say boom");
  CHECK(boom.status == 400);
  CHECK_THAT(boom.body, Catch::Contains("larger than 16 MiB"));
  CHECK(seconds_since(t0) < 10);  // the old renderer: 3.4 GB and 21 s per such request
  CHECK(chat("hello").status == 200);
  CHECK(s.get("/health").status == 200);
}

TEST_CASE(
    "attack: --watch keeps serving when the stage moves to a version that cannot load, and "
    "says so once",
    "[e2e][attack][promote]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  std::filesystem::create_directories(p / "models");
  std::filesystem::copy(model_dir(), p / "models/m", std::filesystem::copy_options::recursive);
  atomic_write_file(
      p / "xops.yaml",
      "name: p\nstages: [dev, staging, prod]\nartifacts:\n  m: {path: models/m, type: model}\n");
  auto x = [&](const std::vector<std::string>& args) {
    auto r = run_xops(args, p);
    INFO(r.err);
    REQUIRE(r.rc == 0);
  };
  auto version = [&](const std::string& msg) {
    x({"-q", "track", "add", "models/m"});
    REQUIRE(sh("git add -A && git commit -qm '" + msg + "'", p).rc == 0);
    x({"-q", "promote", "register", "m"});
  };
  version("v1");
  x({"-q", "promote", "m@v0.0.1", "--to", "prod"});
  Server s(tmp.path(), {"m#prod", "--watch", "--watch-interval", "0.2", "--no-log"}, {}, p);
  // v2's chat template explodes at the start-up render (the old server died of bad_alloc):
  // refused by the budget, the built-in template serves instead, with a warning.
  std::filesystem::remove_all(p / "models/m");
  with_chat_template(p / "models/m", kExplode);
  version("v2");
  x({"-q", "promote", "m@v0.0.2", "--to", "prod"});
  bool moved = false;
  for (int i = 0; i < 100 && !moved; ++i) {
    moved = s.get("/metrics").body.find("version=\"m@v0.0.2\"") != std::string::npos;
    if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(moved);
  CHECK_THAT(s.err(), Catch::Contains("larger than 16 MiB"));
  // v3's weights are truncated: it cannot load; v2 keeps serving; said once, not per check.
  auto weights = p / "models/m/model.safetensors";
  std::filesystem::resize_file(weights, std::filesystem::file_size(weights) / 2);
  version("v3");
  x({"-q", "promote", "m@v0.0.3", "--to", "prod"});
  std::this_thread::sleep_for(std::chrono::seconds(3));  // 15 checks
  CHECK(s.get("/health").status == 200);
  CHECK_THAT(s.get("/metrics").body, Catch::Contains("version=\"m@v0.0.2\""));
  auto err = s.err();
  INFO(err);
  size_t warnings = 0;
  for (auto at = err.find("--watch:"); at != std::string::npos; at = err.find("--watch:", at + 1))
    ++warnings;
  CHECK(warnings == 1);  // the old server: one per interval, forever
  CHECK_THAT(err, Catch::Contains("not retried"));
  CHECK(s.post("/v1/completions", R"({"prompt":"Hi","max_tokens":2})").status == 200);
}

TEST_CASE("attack: error bodies are whole sentences, not library text or cut at a NUL",
          "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(), {});
  auto bad = s.post("/v1/completions", "{\"prompt\": tru");
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("the body is not JSON"));
  CHECK_THAT(bad.body, !Catch::Contains("json.exception"));
  auto nul = s.post("/v1/completions", R"({"model": "a\u0000b", "prompt": "x"})");
  CHECK(nul.status == 404);
  // The whole message arrives, the NUL shown escaped (it used to end the message there).
  CHECK_THAT(nul.j()["error"]["message"].get<std::string>(),
             Catch::Contains("'a\\x00b' does not exist here"));
}

TEST_CASE(
    "attack: when the interaction log cannot write, responses still go out and the "
    "failure is counted and said",
    "[e2e][attack]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  // A full disk, for this server only: no file of it may grow past 160 KiB (the log's WAL
  // soon does). SIGXFSZ ignored, so the write fails with EFBIG as on ENOSPC.
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 160 << 10;
  setrlimit(RLIMIT_FSIZE, &small);
  std::unique_ptr<Server> s;
  try {
    s = std::make_unique<Server>(tmp.path(), std::vector<std::string>{},
                                 std::map<std::string, std::string>{}, p);
  } catch (...) {
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  REQUIRE(s);
  const std::string prompt(300, 'x');
  int ok = 0;
  for (int i = 0; i < 60; ++i)
    ok += s->post("/v1/completions",
                  nlohmann::json{{"prompt", prompt + std::to_string(i)}, {"max_tokens", 8}}.dump())
              .status == 200;
  CHECK(ok == 60);  // every response was sent
  auto metrics = s->get("/metrics").body;
  auto at = metrics.find("\nxops_interaction_log_failures_total ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stoi(metrics.substr(at + 38)) > 0);
  auto health = s->get("/health");
  CHECK(health.status == 200);  // still serving
  CHECK(health.j()["status"] == "degraded");
  CHECK_THAT(s->err(), Catch::Contains("the interaction log could not record response"));
}

TEST_CASE("attack: a request past --timeout ends with 504 and frees its slot", "[e2e][attack]") {
  TempDir tmp;
  Server s(tmp.path(),
           {long_context_model(tmp.path()).string(), "--max-batch", "1", "--timeout", "0.3"});
  const std::string body =
      R"({"prompt":"Once upon a time","max_tokens":4000,"ignore_eos":true,"temperature":0})";
  auto t0 = Clock::now();
  auto r = s.post("/v1/completions", body);
  CHECK(r.status == 504);
  CHECK_THAT(r.body, Catch::Contains("0.3 s timeout"));
  CHECK(seconds_since(t0) < 5);
  // Streamed: the error arrives as an event, then [DONE].
  auto streamed = s.post("/v1/completions", body.substr(0, body.size() - 1) + R"(,"stream":true})");
  CHECK(streamed.status == 200);
  CHECK_THAT(streamed.body, Catch::Contains("ran past the server's timeout"));
  CHECK_THAT(streamed.body, Catch::Contains("data: [DONE]"));
  // The only slot is free again.
  CHECK(s.post("/v1/completions", R"({"prompt":"Hi","max_tokens":2})").status == 200);
}

TEST_CASE("attack: a served user's file:// prompt never makes a later eval read project files",
          "[e2e][attack][eval]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  write_text(p / ".env", "SECRET=hunter2\n");
  {
    Server s(tmp.path(), {}, {}, p);
    for (const char* prompt : {"file://.env", "file://*"}) {
      auto r =
          s.post("/v1/completions",
                 nlohmann::json{{"prompt", prompt}, {"max_tokens", 3}, {"temperature", 0}}.dump());
      REQUIRE(r.status == 200);
      CHECK(
          s.post("/v1/feedback", nlohmann::json{{"id", r.j()["id"]}, {"score", 1}}.dump()).status ==
          200);
    }
    CHECK(s.stop() == 0);
  }
  REQUIRE(run_xops({"eval", "--from-logs", "--min-score", "0.5", "-o", "cases.jsonl"}, p).rc == 0);
  write_text(p / "replay.yaml",
             "prompts: ['{{prompt}}']\nproviders: [echo]\ntests: file://cases.jsonl\n");
  auto r = run_xops({"--json", "eval", "replay.yaml", "-o", "report.json"}, p);
  INFO(r.out << r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["results"].size() == 2);  // `file://*` used to expand into a case per project file
  std::set<std::string> outputs;
  for (const auto& c : j["results"]) outputs.insert(c["output"].get<std::string>());
  CHECK(outputs == std::set<std::string>{"file://.env", "file://*"});  // the text, not a file
  // The secret reached no provider, report, or the eval cache in the tracking database.
  CHECK(r.out.find("hunter2") == std::string::npos);
  CHECK(read_text(p / "report.json").find("hunter2") == std::string::npos);
  auto db = sh("cat .xops/xops.db* | grep -c hunter2 || true", p);
  CHECK(db.out == "0\n");
}
