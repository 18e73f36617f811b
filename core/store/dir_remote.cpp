// A remote that is a directory with the same <2 hex>/<62 hex> layout as .xops/objects.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "core/error.hpp"
#include "core/plugins/plugin.hpp"
#include "core/project/config.hpp"
#include "core/store/file_copy.hpp"
#include "core/store/remote.hpp"
#include "core/store/s3_plugin.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

class DirRemote final : public Remote {
 public:
  explicit DirRemote(fs::path root) : root_(std::move(root)) {}
  std::string describe() const override { return root_.string(); }

  bool has(const std::string& id) const override {
    struct stat st;
    return ::stat(path_of(id).c_str(), &st) == 0;
  }

  uint64_t size_of(const std::string& id) const override {
    struct stat st;
    return ::stat(path_of(id).c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }

  void upload(const ObjectStore& local, const std::string& id, const ByteCallback& cb) override {
    static std::atomic<uint64_t> counter{0};
    auto tmp_dir = root_ / ".tmp";
    std::error_code ec;
    fs::create_directories(tmp_dir, ec);
    auto tmp = tmp_dir / fmt::format("{}-{}-{}", id.substr(0, 16), ::getpid(), counter++);
    int in = ::open(local.path_of(id).c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw runtime_error(fmt::format("object {} is not in the local store", id.substr(0, 12)));
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (out < 0) {
      ::close(in);
      throw runtime_error(fmt::format("cannot write to remote {}: {}", root_.string(), errno_text(errno)));
    }
    struct stat st;
    ::fstat(in, &st);
    std::string got;
    try {
      got = copy_and_hash(in, static_cast<uint64_t>(st.st_size), out, cb);
      if (::fsync(out) != 0) throw runtime_error(fmt::format("fsync on remote failed: {}", errno_text(errno)));
    } catch (...) {
      ::close(in), ::close(out), ::unlink(tmp.c_str());
      throw;
    }
    ::close(in), ::close(out);
    if (got != id) {
      ::unlink(tmp.c_str());
      throw runtime_error(fmt::format("local object {} is corrupt; not pushed", id.substr(0, 12)),
                          "run `xops track verify`");
    }
    auto dest = path_of(id);
    fs::create_directories(dest.parent_path(), ec);
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw runtime_error(fmt::format("cannot store {} on the remote: {}", id.substr(0, 12), errno_text(err)));
    }
    fsync_dir(dest.parent_path());
  }

  std::string rehash(const std::string& id, const ByteCallback& cb) const override {
    int fd = ::open(path_of(id).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return {};
    struct stat st;
    std::string h;
    try {
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) h = sha256_fd(fd, cb);
    } catch (const Error&) {
      h.clear();
    }
    ::close(fd);
    return h;
  }

  void download(ObjectStore& local, const std::string& id, const ByteCallback& cb) override {
    if (!has(id)) throw precondition_error(fmt::format("object {} is not on remote {}", id.substr(0, 12), root_.string()));
    local.import_verified(path_of(id), id, cb);  // hashes exactly the bytes it stores
  }

 private:
  fs::path path_of(const std::string& id) const { return root_ / id.substr(0, 2) / id.substr(2); }
  fs::path root_;
};

}  // namespace

std::unique_ptr<Remote> open_remote(const RemoteConfig& cfg, const fs::path& ws_root) {
  std::string url = cfg.url;
  if (url.rfind("s3://", 0) == 0) {
    return require_plugin<S3Library>("libxops_s3.so", "XOPS_S3_LIB", "xops_s3_library", kS3Abi,
                                     "S3 client")
        .open(cfg);
  }
  if (url.rfind("file://", 0) == 0) url = url.substr(7);
  if (url.find("://") != std::string::npos)
    throw usage_error(fmt::format("remote '{}': unsupported URL '{}'", cfg.name, cfg.url),
                      "a remote is a directory (a path or file://PATH) or s3://bucket/prefix");
  fs::path root = fs::path(url).is_absolute() ? fs::path(url) : ws_root / url;
  std::error_code ec;
  fs::create_directories(root, ec);
  if (!fs::is_directory(root, ec))
    throw precondition_error(fmt::format("remote '{}': {} is not a usable directory", cfg.name, root.string()));
  return std::make_unique<DirRemote>(root.lexically_normal());
}

}  // namespace xops
