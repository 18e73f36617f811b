#pragma once
// Where the store's objects are pushed to and pulled from: a directory (or a mounted
// filesystem; dir_remote.cpp) or S3 and S3-compatible stores (s3://; libxops_s3.so).
#include <filesystem>
#include <memory>
#include <string>

#include "core/store/object_store.hpp"

namespace xops {

struct RemoteConfig;

class Remote {
 public:
  virtual ~Remote() = default;
  virtual std::string describe() const = 0;
  // Parallel transfers this remote wants (0: the `jobs` setting). Network stores are
  // latency-bound and want more requests in flight than there are cores.
  virtual int preferred_jobs() const { return 0; }
  virtual bool has(const std::string& id) const = 0;
  virtual uint64_t size_of(const std::string& id) const = 0;  // 0 when unknown
  // Copies a local object up; the remote verifies its hash before the object appears.
  virtual void upload(const ObjectStore& local, const std::string& id, const ByteCallback& cb) = 0;
  // Re-reads an object on the remote and returns its SHA-256 ("" when unreadable).
  virtual std::string rehash(const std::string& id, const ByteCallback& cb) const = 0;
  // Fetches an object into the local store, verifying its hash.
  virtual void download(ObjectStore& local, const std::string& id, const ByteCallback& cb) = 0;
};

// url relative paths are taken from the workspace root.
std::unique_ptr<Remote> open_remote(const RemoteConfig& cfg, const std::filesystem::path& ws_root);

}  // namespace xops
