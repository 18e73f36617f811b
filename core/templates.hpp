#pragma once
// Files under templates/ and ui/, compiled into the binary by cmake/embed.cmake.
#include <cstddef>
#include <string>
#include <vector>

namespace xops {

struct EmbeddedFile {
  const char* path;  // relative to templates/, e.g. "llm/xops.yaml"
  const char* data;
  std::size_t size;
  bool executable;
};

const std::vector<EmbeddedFile>& embedded_templates();
// Files under ui/ (`xops ui`'s page, script and style), embedded the same way.
const std::vector<EmbeddedFile>& embedded_ui();

}  // namespace xops
