// An S3 endpoint's XML (a ListObjectsV2 page, an error body): remote data. Every object it
// yields must be one of ours: a 64-hex-digit id.
#include "core/store/s3_xml.hpp"
#include "core/store/sha256.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string xml(reinterpret_cast<const char*>(data), size);
  for (const char* base : {"", "team/xops/"}) {
    auto page = xops::parse_s3_list_page(xml, base);
    for (const auto& [id, bytes] : page.objects)
      if (!xops::is_sha256_hex(id)) std::abort();
    if (page.next_token.size() > xml.size()) std::abort();
  }
  auto e = xops::parse_s3_error(xml);
  if (e.code.size() > xml.size() || e.message.size() > xml.size()) std::abort();
  return 0;
}
