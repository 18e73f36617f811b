#pragma once
// The content-addressed store: .xops/objects/<2 hex>/<62 hex>, SHA-256 ids. Objects are
// immutable and read-only (0444); each lands under its final name by rename from
// .xops/tmp, so a crash never leaves a partial object where a reader would trust it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace xops {

class SafeRoot;

namespace fs = std::filesystem;

enum class LinkMode { Copy, Hardlink, Reflink };
LinkMode parse_link_mode(const std::string& s);  // throws usage error

struct StoredObject {
  std::string id;
  uint64_t size = 0;
  bool added = false;  // false when the store already had it
};

using ByteCallback = std::function<void(uint64_t)>;

class ObjectStore {
 public:
  ObjectStore(fs::path objects_dir, fs::path tmp_dir);

  fs::path path_of(const std::string& id) const;
  bool has(const std::string& id) const;
  std::vector<std::string> list() const;

  // Hashes and stores a workspace file in one read pass (reflink + hash where the filesystem
  // clones). Throws if the file changes while it is read. Hardlink mode stores no second copy:
  // the object becomes a read-only hard link of the workspace file (which turns read-only too,
  // so an edit in place cannot corrupt the store); it falls back to a copy across filesystems.
  StoredObject add_file(const fs::path& src, const ByteCallback& on_bytes = {}, LinkMode mode = LinkMode::Copy);
  StoredObject add_bytes(std::string_view data);
  std::string read(const std::string& id) const;
  // Copies a file received from elsewhere into the store, verifying it hashes to `id`.
  void import_verified(const fs::path& src, const std::string& id, const ByteCallback& on_bytes = {});
  // For a transfer that writes an object itself: a new temp path in the store's temp dir,
  // then adopt_verified with the hash of exactly the bytes written. A mismatch removes the
  // temp file and throws (naming `from`); the object never enters the store.
  fs::path receive_path() const { return new_temp(); }
  void adopt_verified(const fs::path& tmp, const std::string& id, const std::string& got,
                      const std::string& from);
  // Recomputes an object's hash (for verify).
  std::string rehash(const std::string& id, const ByteCallback& on_bytes = {}) const;
  // Writes object `id` to `rel` beneath `root` atomically (temp beside it, then rename),
  // never following a symlink, after verifying that its bytes hash to `id` (a corrupt object
  // is removed from the store and the call throws).
  void materialize(const std::string& id, const SafeRoot& root, const std::string& rel,
                   LinkMode mode, bool executable) const;
  void remove(const std::string& id);
  // Makes every object renamed so far durable (one syncfs instead of an fsync per object).
  void sync() const;

  const fs::path& objects_dir() const { return objects_; }

 private:
  fs::path new_temp() const;
  void commit_temp(const fs::path& tmp, const std::string& id, bool* added) const;
  fs::path objects_, tmp_;
};

}  // namespace xops
