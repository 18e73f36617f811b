// An s3:// remote over libcurl: objects at PREFIX/<2 hex>/<62 hex> (the directory remote's
// layout, so `aws s3 ls/cp` read what xops pushed). Built into libxops_s3.so only (libcurl
// and what it links load when an s3:// remote is used, not at start-up).
//  - has/size_of: one ListObjectsV2 walk per process, not a HEAD per object;
//  - upload: one signed PUT whose x-amz-content-sha256 is the object id itself (the store
//    is content-addressed), aborted before its last byte if the local file does not hash to
//    it; from 64 MiB on, a multipart upload with parts sent in parallel and aborted on error;
//  - download: into the store's temp dir (ranged GETs in parallel for large objects), then
//    hash-verified before it enters the store;
//  - every request is retried with exponential back-off on connection errors, 5xx and 429;
//    403 and a missing bucket are clear errors at once. Ctrl-C aborts transfers in flight.
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/error.hpp"
#include "core/plugins/plugin.hpp"
#include "core/project/config.hpp"
#include "core/store/remote.hpp"
#include "core/store/s3_config.hpp"
#include "core/store/s3_plugin.hpp"
#include "core/store/s3_xml.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/parallel.hpp"

namespace xops {

namespace {

constexpr uint64_t kMultipartThreshold = 64ull << 20;
constexpr uint64_t kPartSize = 16ull << 20;
constexpr int kPartJobs = 8;
constexpr int kAttempts = 6;           // throttling (429) and 5xx: retried with back-off
constexpr int kConnectAttempts = 2;    // a refused or unresolvable endpoint: one quick retry
constexpr size_t kMaxXml = 64u << 20;  // a listing page or an error body
// A listing may not run on forever: a token the endpoint already gave, more than this many
// objects, or this many empty pages in a row is an error (docs/security.md).
constexpr size_t kMaxListed = 10000000;
constexpr int kMaxEmptyPages = 100;
constexpr long kStallBytesPerSecond =
    1024;  // slower than this for XOPS_S3_STALL_S (30 s): retried once, then an error

// One request's body source and sink.
struct Transfer {
  // body: from memory, or from fd at [offset, offset+length)
  const std::string* body_mem = nullptr;
  int body_fd = -1;
  uint64_t body_off = 0, body_len = 0, body_pos = 0;
  bool hash_body = false;  // hash what is sent; abort before the last byte unless it is body_expect
  std::string body_expect;
  std::unique_ptr<Sha256> body_hash;
  bool body_checked = false;
  bool body_corrupt = false;
  // response: into memory (capped), or pwrite into fd at out_off (+ optional hash)
  std::string resp;
  int out_fd = -1;
  uint64_t out_off = 0;
  bool hash_out = false;  // hash what arrives (into out_hash), writing it to out_fd if there is one
  std::unique_ptr<Sha256> out_hash;
  bool out_failed = false;
  int out_errno = 0;                // why out_failed (errno is gone by the time it is read)
  uint64_t out_limit = UINT64_MAX;  // object bytes beyond this: the endpoint is lying
  bool out_overflow = false;
  CURL* curl = nullptr;
  const ByteCallback* progress = nullptr;
  std::string etag;
  bool ignore_interrupt = false;  // clean-up requests (aborting a multipart upload) still go out
};

// Once the last byte has been read: whether the body hashed to something else (the hash is
// finalised once; curl may ask for more after the end).
bool body_corrupt_at_end(Transfer* t) {
  if (t->body_hash && !t->body_checked) {
    t->body_checked = true;
    t->body_corrupt = t->body_hash->hex() != t->body_expect;
  }
  return t->body_corrupt;
}

size_t read_cb(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t want = std::min<uint64_t>(size * n, t->body_len - t->body_pos);
  if (want == 0)
    return body_corrupt_at_end(t) ? CURL_READFUNC_ABORT : 0;  // never complete a corrupt object
  if (t->body_mem) {
    std::memcpy(buf, t->body_mem->data() + t->body_pos, want);
  } else {
    ssize_t got = ::pread(t->body_fd, buf, want, static_cast<off_t>(t->body_off + t->body_pos));
    if (got <= 0) return CURL_READFUNC_ABORT;
    want = static_cast<size_t>(got);
  }
  if (t->body_hash) t->body_hash->update(buf, want);
  t->body_pos += want;
  if (t->progress && *t->progress) (*t->progress)(want);
  // The last byte read: check the hash before curl sends it.
  if (t->body_pos == t->body_len && body_corrupt_at_end(t)) return CURL_READFUNC_ABORT;
  return want;
}

size_t write_cb(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 300 &&
      (t->out_fd >= 0 || t->hash_out)) {  // object bytes; an error's XML goes to resp
    if (t->out_off + len > t->out_limit) {  // an object never exceeds its known size
      t->out_overflow = true;
      return 0;
    }
    // Until all of it is written, or an error says why not (a short write is retried: its
    // cause, ENOSPC or EFBIG, comes with the next attempt).
    for (size_t done = 0; t->out_fd >= 0 && done < len;) {
      auto n = ::pwrite(t->out_fd, buf + done, len - done, static_cast<off_t>(t->out_off + done));
      if (n <= 0) {
        t->out_failed = true;
        t->out_errno = n < 0 ? errno : EIO;
        return 0;
      }
      done += static_cast<size_t>(n);
    }
    t->out_off += len;
    if (t->out_hash) t->out_hash->update(buf, len);
    if (t->progress && *t->progress) (*t->progress)(len);
    return len;
  }
  if (t->resp.size() + len > kMaxXml) return 0;
  t->resp.append(buf, len);
  return len;
}

size_t header_cb(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  std::string h(buf, size * n);
  if (h.size() > 5 && (h.rfind("ETag:", 0) == 0 || h.rfind("etag:", 0) == 0)) {
    t->etag = h.substr(5);
    while (!t->etag.empty() && (t->etag.back() == '\r' || t->etag.back() == '\n'))
      t->etag.pop_back();
    while (!t->etag.empty() && t->etag.front() == ' ') t->etag.erase(0, 1);
  }
  return size * n;
}

int xfer_cb(void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(p);
  return !t->ignore_interrupt && interrupt::requested() ? 1 : 0;
}

// Seconds a transfer may stay under kStallBytesPerSecond (XOPS_S3_STALL_S, default 30).
long stall_seconds() {
  static const long s = [] {
    const char* e = std::getenv("XOPS_S3_STALL_S");
    long v = e ? std::strtol(e, nullptr, 10) : 0;
    return v > 0 && v <= 3600 ? v : 30L;
  }();
  return s;
}

class S3Remote final : public Remote {
 public:
  explicit S3Remote(S3Settings s) : s_(std::move(s)) {}
  ~S3Remote() override {
    for (auto* h : pool_) curl_easy_cleanup(h);
  }

  std::string describe() const override {
    return fmt::format("s3://{}/{} ({})", s_.where.bucket, s_.where.prefix, s_.endpoint);
  }
  int preferred_jobs() const override { return 16; }  // latency-bound: more requests in flight

  bool has(const std::string& id) const override {
    list_once();
    std::lock_guard<std::mutex> lk(mu_);
    return sizes_.count(id) > 0;
  }
  uint64_t size_of(const std::string& id) const override {
    list_once();
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sizes_.find(id);
    return it == sizes_.end() ? 0 : it->second;
  }

  void upload(const ObjectStore& local, const std::string& id, const ByteCallback& cb) override {
    Fd in(::open(local.path_of(id).c_str(), O_RDONLY | O_CLOEXEC));
    if (in.fd < 0)
      throw runtime_error(fmt::format("object {} is not in the local store", id.substr(0, 12)));
    struct stat st;
    ::fstat(in.fd, &st);
    auto size = static_cast<uint64_t>(st.st_size);
    if (size >= kMultipartThreshold)
      multipart_upload(in.fd, size, id, cb);
    else
      put_object(in.fd, size, id, cb);
    std::lock_guard<std::mutex> lk(mu_);
    sizes_[id] = size;
  }

  std::string rehash(const std::string& id, const ByteCallback& cb) const override {
    Transfer t;
    t.hash_out = true;  // streamed into the hash, never held in memory
    t.progress = &cb;
    t.out_limit = has(id) ? size_of(id) : 0;  // an endless body is not hashed forever
    auto r = request("GET", key_of(id), {}, kEmptySha, t, {}, true);
    return r == 404 ? std::string() : t.out_hash->hex();
  }

  void download(ObjectStore& local, const std::string& id, const ByteCallback& cb) override {
    if (local.has(id)) return;
    if (!has(id))
      throw runtime_error(fmt::format("object {} is not on {} (its listing does not have it)",
                                      id.substr(0, 12), describe()),
                          "push it from a clone that has it");
    uint64_t size = size_of(id);
    auto tmp = local.receive_path();
    Fd out(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444));  // read back to hash
    if (out.fd < 0)
      throw runtime_error(fmt::format("cannot create {}: {}", tmp.string(), errno_text(errno)));
    TempFile guard{tmp};
    std::string got;
    if (size >= kMultipartThreshold) {
      // Ranged GETs in parallel; a hasher reads the parts back (from the page cache) in order
      // as each one lands, so the hash is ready when the last part is.
      size_t parts = static_cast<size_t>((size + kPartSize - 1) / kPartSize);
      if (::ftruncate(out.fd, static_cast<off_t>(size)) != 0)
        throw runtime_error(fmt::format("cannot size {}: {}", tmp.string(), errno_text(errno)));
      std::vector<char> landed(parts, 0);
      bool failed = false;
      std::mutex m;
      std::condition_variable cv;
      std::thread hasher([&] {
        Sha256 h;
        std::string buf(1 << 20, '\0');
        for (size_t i = 0; i < parts; ++i) {
          {
            std::unique_lock<std::mutex> lk(m);
            cv.wait(lk, [&] { return landed[i] || failed; });
            if (failed) return;
          }
          for (uint64_t off = i * kPartSize, end = std::min(size, off + kPartSize); off < end;) {
            auto n = ::pread(out.fd, buf.data(), std::min<uint64_t>(buf.size(), end - off),
                             static_cast<off_t>(off));
            if (n <= 0) return;  // got stays empty: the object is refused below
            h.update(buf.data(), static_cast<size_t>(n));
            off += static_cast<uint64_t>(n);
          }
        }
        got = h.hex();
      });
      try {
        parallel_for(parts, kPartJobs, [&](size_t i) {
          uint64_t a = i * kPartSize, b = std::min(size, a + kPartSize) - 1;
          Transfer t;
          t.out_fd = out.fd;
          t.out_off = a;
          t.out_limit = b + 1;
          t.progress = &cb;
          request("GET", key_of(id), {}, kEmptySha, t,
                  {{"range", fmt::format("bytes={}-{}", a, b)}});
          if (t.out_off != b + 1)
            throw runtime_error(fmt::format("object {}: short ranged read", id.substr(0, 12)));
          std::lock_guard<std::mutex> lk(m);
          landed[i] = 1;
          cv.notify_all();
        });
      } catch (...) {
        {
          std::lock_guard<std::mutex> lk(m);
          failed = true;
        }
        cv.notify_all();
        hasher.join();
        throw;
      }
      hasher.join();
    } else {
      Transfer t;
      t.out_fd = out.fd;
      t.hash_out = true;
      t.progress = &cb;
      t.out_limit = size;
      request("GET", key_of(id), {}, kEmptySha, t);
      if (t.out_off != size)
        throw runtime_error(fmt::format("GET s3://{}/{}: {} bytes arrived, the listing says {}",
                                        s_.where.bucket, key_of(id), t.out_off, size));
      got = t.out_hash->hex();
    }
    // No fsync per object: `track pull` makes everything it stored durable with one syncfs.
    guard.path.clear();
    local.adopt_verified(tmp, id, got, describe());
  }

 private:
  static constexpr const char* kEmptySha =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

  struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  };
  struct TempFile {
    std::filesystem::path path;
    ~TempFile() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  };

  std::string key_of(const std::string& id) const {
    return (s_.where.prefix.empty() ? "" : s_.where.prefix + "/") + id.substr(0, 2) + "/" +
           id.substr(2);
  }

  CURL* acquire() const {
    {
      std::lock_guard<std::mutex> lk(pool_mu_);
      if (!pool_.empty()) {
        CURL* h = pool_.back();
        pool_.pop_back();
        return h;
      }
    }
    CURL* h = curl_easy_init();
    if (!h) throw runtime_error("cannot start an HTTP client (curl_easy_init)");
    return h;
  }
  void release(CURL* h) const {
    std::lock_guard<std::mutex> lk(pool_mu_);
    pool_.push_back(h);
  }

  [[noreturn]] void fail_status(long status, const std::string& method, const std::string& key,
                                const std::string& body) const {
    auto [code, msg] = parse_s3_error(body);
    auto what = fmt::format("{} s3://{}/{}: HTTP {}{}{}", method, s_.where.bucket, key, status,
                            code.empty() ? "" : " " + code, msg.empty() ? "" : ": " + msg);
    if (code == "NoSuchBucket")
      throw precondition_error(
          fmt::format("remote {}: the bucket '{}' does not exist", describe(), s_.where.bucket),
          fmt::format("create it (aws s3 mb s3://{}) or fix the remote's url", s_.where.bucket));
    if (status == 403 || status == 401)
      throw runtime_error(
          what, fmt::format("check the AWS credentials (from {}), the region ({}) and the bucket's "
                            "policy",
                            s_.credentials_from, s_.region));
    throw runtime_error(what);
  }

  // Sends one request, retrying what can succeed later; returns the HTTP status (2xx, or 404
  // when allow_404). The transfer's body and sink are reset before each attempt.
  long request(const std::string& method, const std::string& key,
               const std::map<std::string, std::string>& query, const std::string& payload_sha,
               Transfer& t, const std::map<std::string, std::string>& extra = {},
               bool allow_404 = false) const {
    const uint64_t out_start = t.out_off;
    std::string last_error;
    auto check_interrupt = [&t] {
      if (!t.ignore_interrupt && interrupt::requested())
        throw Error(ErrorKind::Interrupted, "interrupted",
                    "run the command again: what finished is not sent again");
    };
    {
      std::lock_guard<std::mutex> lk(
          mu_);  // an endpoint found down fails every later request at once
      if (unreachable_error_) std::rethrow_exception(unreachable_error_);
    }
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      check_interrupt();
      if (attempt > 0) {
        static thread_local std::mt19937 rng{std::random_device{}()};
        auto ms = (100 << attempt) + std::uniform_int_distribution<int>(0, 100)(rng);
        for (int slept = 0; slept < ms; slept += 20) {
          check_interrupt();
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      t.body_pos = 0;
      t.out_off = out_start;
      t.resp.clear();
      t.etag.clear();
      t.out_failed = false;
      t.body_corrupt = false;
      t.body_checked = false;
      // A retry starts the body, the file and the hashes from the beginning again.
      t.body_hash = t.hash_body ? std::make_unique<Sha256>() : nullptr;
      t.out_hash = t.hash_out ? std::make_unique<Sha256>() : nullptr;
      if (t.out_fd >= 0 && out_start == 0 && attempt > 0 && ::ftruncate(t.out_fd, 0) != 0)
        throw runtime_error(fmt::format("cannot truncate a download: {}", errno_text(errno)));
      auto signed_req = sign_s3_request(s_, method, key, query, payload_sha, {});
      CURL* h = acquire();
      curl_easy_reset(h);
      t.curl = h;
      struct curl_slist* hdrs = nullptr;
      for (const auto& line : signed_req.headers) hdrs = curl_slist_append(hdrs, line.c_str());
      for (const auto& [k, v] : extra) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
      hdrs = curl_slist_append(hdrs, "Expect:");  // no 100-continue round trip
      curl_easy_setopt(h, CURLOPT_URL, signed_req.url.c_str());
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, kStallBytesPerSecond);
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_seconds());
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
      curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
      curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
      curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
      curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
      curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
      if (method == "PUT" || method == "POST") {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        if (method == "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &t);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.body_len));
      } else if (method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      } else if (method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
      }
      // A 4xx/5xx body is an XML error, not object bytes: collect it in memory.
      long status = 0;
      CURLcode rc = curl_easy_perform(h);
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
      curl_slist_free_all(hdrs);
      release(h);
      if (t.body_corrupt)
        throw runtime_error(
            fmt::format("local object {} is corrupt; not pushed", key.substr(key.size() - 62, 10)),
            "run `xops track verify`");
      check_interrupt();
      if (t.out_failed)
        throw runtime_error(fmt::format("cannot write s3://{}/{} into the local store: {}",
                                        s_.where.bucket, key, errno_text(t.out_errno)),
                            t.out_errno == ENOSPC ? "free disk space and run it again" : "");
      if (t.out_overflow)
        throw runtime_error(
            fmt::format("{} s3://{}/{} via {}: the endpoint sent more than the object's {} bytes",
                        method, s_.where.bucket, key, s_.endpoint, t.out_limit),
            "the endpoint is broken or hostile; nothing of it was kept");
      if (rc == CURLE_OPERATION_TIMEDOUT && attempt + 1 >= kConnectAttempts)
        throw runtime_error(
            fmt::format("{} s3://{}/{} via {}: stalled (under {} bytes/s for {} s), {} attempts",
                        method, s_.where.bucket, key, s_.endpoint, kStallBytesPerSecond,
                        stall_seconds(), attempt + 1),
            "a slow or stuck endpoint; XOPS_S3_STALL_S sets the seconds allowed");
      if (rc != CURLE_OK && status < 400) {
        last_error = curl_easy_strerror(rc);
        bool no_connection = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                             rc == CURLE_COULDNT_RESOLVE_PROXY;
        if (no_connection && attempt + 1 >= kConnectAttempts) unreachable(last_error, attempt + 1);
        continue;  // reset or timeout mid-transfer: retry
      }
      if (status >= 200 && status < 300) return status;
      if (status == 404 && allow_404 && s3_xml_tag(t.resp, "Code") != "NoSuchBucket") return status;
      if (status == 429 || status >= 500) {
        last_error = fmt::format("HTTP {} {}", status, s3_xml_tag(t.resp, "Code"));
        continue;
      }
      fail_status(status, method, key, t.out_fd >= 0 ? std::string() : t.resp);
    }
    throw runtime_error(
        fmt::format("{} s3://{}/{} via {}: still failing after {} attempts ({})", method,
                    s_.where.bucket, key, s_.endpoint, kAttempts, last_error),
        "is the endpoint up? run the command again: what finished is not sent again");
  }

  // Nothing answers at the endpoint: fail now (a push or pull, and the pre-push hook that runs
  // it, must not wait minutes) and fail every later request of this remote the same way.
  [[noreturn]] void unreachable(const std::string& why, int attempts) const {
    auto e = runtime_error(
        fmt::format("cannot connect to {} ({}; {} attempts)", s_.endpoint, why, attempts),
        "is the endpoint up? (throttling and 5xx answers are retried with back-off; a refused "
        "connection is not)");
    std::lock_guard<std::mutex> lk(mu_);
    if (!unreachable_error_) unreachable_error_ = std::make_exception_ptr(e);
    throw e;
  }

  // The one listing walk: every object under the prefix, with its size.
  // A failed listing is remembered: the parallel callers of has() get its error at once
  // instead of each retrying a server that is down.
  void list_once() const {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (list_error_) std::rethrow_exception(list_error_);
    }
    try {
      list_walk();
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!list_error_) list_error_ = std::current_exception();
      throw;
    }
  }
  void list_walk() const {
    std::call_once(listed_, [this] {
      std::string token;
      std::string base = s_.where.prefix.empty() ? "" : s_.where.prefix + "/";
      std::map<std::string, uint64_t> found;
      std::set<std::string> tokens;  // a token given twice would loop forever
      int empty_pages = 0;
      auto refuse = [&](const std::string& why) {
        throw runtime_error(
            fmt::format("listing s3://{}/{} via {}: {}", s_.where.bucket, base, s_.endpoint, why),
            "the endpoint is broken or hostile (docs/security.md: listings)");
      };
      do {
        std::map<std::string, std::string> q{{"list-type", "2"}, {"prefix", base}};
        if (!token.empty()) q["continuation-token"] = token;
        Transfer t;
        request("GET", "", q, kEmptySha, t);
        auto page = parse_s3_list_page(t.resp, base);
        found.insert(page.objects.begin(), page.objects.end());
        token = page.next_token;
        if (!token.empty() && !tokens.insert(token).second)
          refuse(fmt::format("the continuation token came back after {} pages", tokens.size()));
        empty_pages = page.objects.empty() ? empty_pages + 1 : 0;
        if (!token.empty() && empty_pages >= kMaxEmptyPages)
          refuse(fmt::format("{} empty pages in a row, each with a new continuation token",
                             empty_pages));
        if (found.size() > kMaxListed) refuse(fmt::format("more than {} objects", kMaxListed));
      } while (!token.empty());
      std::lock_guard<std::mutex> lk(mu_);
      for (auto& kv : found) sizes_.insert(kv);
    });
  }

  void put_object(int fd, uint64_t size, const std::string& id, const ByteCallback& cb) {
    Transfer t;
    t.body_fd = fd;
    t.body_len = size;
    t.hash_body = true;
    t.body_expect = id;
    t.progress = &cb;
    request("PUT", key_of(id), {}, id, t);  // the payload hash S3 checks is the object's id
  }

  void multipart_upload(int fd, uint64_t size, const std::string& id, const ByteCallback& cb) {
    auto key = key_of(id);
    Transfer start;
    request("POST", key, {{"uploads", ""}}, kEmptySha, start);
    auto upload_id = s3_xml_tag(start.resp, "UploadId");
    if (upload_id.empty())
      throw runtime_error(
          fmt::format("POST s3://{}/{}?uploads: no UploadId", s_.where.bucket, key));
    size_t parts = static_cast<size_t>((size + kPartSize - 1) / kPartSize);
    std::vector<std::string> etags(parts);
    try {
      // The whole object's hash, read alongside the parts: a corrupt local object is never
      // completed.
      std::string whole;
      std::thread hasher([&] {
        try {
          whole = sha256_fd(fd);
        } catch (...) {
          whole.clear();
        }
      });
      try {
        parallel_for(parts, kPartJobs, [&](size_t i) {
          uint64_t off = i * kPartSize, len = std::min(kPartSize, size - off);
          std::string buf(len, '\0');
          if (::pread(fd, buf.data(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
            throw runtime_error(
                fmt::format("cannot read object {}: {}", id.substr(0, 12), errno_text(errno)));
          Transfer t;
          t.body_mem = &buf;
          t.body_len = len;
          t.progress = &cb;
          request("PUT", key, {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}},
                  sha256_hex(buf), t);
          etags[i] = t.etag;
        });
      } catch (...) {
        hasher.join();
        throw;
      }
      hasher.join();
      if (whole != id)
        throw runtime_error(fmt::format("local object {} is corrupt; not pushed", id.substr(0, 12)),
                            "run `xops track verify`");
      std::string xml = "<CompleteMultipartUpload>";
      for (size_t i = 0; i < parts; ++i)
        xml +=
            fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, etags[i]);
      xml += "</CompleteMultipartUpload>";
      Transfer done;
      done.body_mem = &xml;
      done.body_len = xml.size();
      request("POST", key, {{"uploadId", upload_id}}, sha256_hex(xml), done);
      // S3 can answer 200 with an error inside the body.
      if (done.resp.find("<Error>") != std::string::npos) fail_status(500, "POST", key, done.resp);
    } catch (...) {
      try {  // even after Ctrl-C: parts left behind are stored (and billed) until aborted
        Transfer abort;
        abort.ignore_interrupt = true;
        request("DELETE", key, {{"uploadId", upload_id}}, kEmptySha, abort, {}, true);
      } catch (...) {
      }
      throw;
    }
  }

  S3Settings s_;
  mutable std::once_flag listed_;
  mutable std::mutex mu_;
  mutable std::map<std::string, uint64_t> sizes_;
  mutable std::exception_ptr list_error_;
  mutable std::exception_ptr unreachable_error_;
  mutable std::mutex pool_mu_;  // idle handles: each keeps its connection open for the next request
  mutable std::vector<CURL*> pool_;
};

class CurlS3Library final : public S3Library {
 public:
  CurlS3Library() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  std::unique_ptr<Remote> open(const RemoteConfig& cfg) override {
    return std::make_unique<S3Remote>(resolve_s3_settings(cfg));
  }
};

}  // namespace

}  // namespace xops

XOPS_PLUGIN_EXPORT xops::S3Library* xops_s3_library(int abi) {
  static xops::CurlS3Library lib;
  return abi == xops::kS3Abi ? &lib : nullptr;
}

XOPS_PLUGIN_PROBE
