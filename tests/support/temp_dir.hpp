#pragma once
#include <filesystem>
#include <string>

namespace xops::test {

// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

void write_text(const std::filesystem::path& p, const std::string& content);
std::string read_text(const std::filesystem::path& p);
// ../shared beside the checkout (CI lays it there); empty when absent.
std::filesystem::path shared_dir();

}  // namespace xops::test
