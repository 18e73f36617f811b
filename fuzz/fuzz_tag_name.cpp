// A git tag name from someone else's repository, read as a registry tag (gto's grammar), and
// a ref typed by a user: whatever parses must format back to a tag that parses the same.
#include "core/refs/registry.hpp"
#include "core/refs/tag_name.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  using namespace xops::registry;
  if (auto t = parse_tag_name(text)) {
    auto again = parse_tag_name(format_tag_name(*t));
    if (!again || again->artifact != t->artifact || again->action != t->action ||
        again->version != t->version || again->stage != t->stage || again->counter != t->counter)
      std::abort();
  }
  if (auto r = parse_ref(text))
    if (r->artifact.empty() || r->value.empty()) std::abort();
  auto v = parse_semver(text);
  if (v && !parse_semver(v->str())) std::abort();
  return 0;
}
