#include "tests/support/temp_dir.hpp"

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace xops::test {

TempDir::TempDir() {
  auto base = std::filesystem::temp_directory_path() / "xops-test-XXXXXX";
  std::string tmpl = base.string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_text(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream o(p, std::ios::binary);
  o << content;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream i(p, std::ios::binary);
  std::stringstream ss;
  ss << i.rdbuf();
  return ss.str();
}

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("XOPS_SHARED_DIR"); env && *env) return env;
  auto p = std::filesystem::path(XOPS_SOURCE_DIR) / ".." / "shared";
  return std::filesystem::exists(p) ? std::filesystem::canonical(p) : std::filesystem::path();
}

}  // namespace xops::test
