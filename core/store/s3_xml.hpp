#pragma once
// What xops reads from an S3 endpoint's XML (ListObjectsV2 pages, error bodies). This is
// remote data: only the elements named are read, nothing is unescaped or trusted, and a key
// that is not one of our objects (PREFIX/ab/cdef..., a SHA-256) is skipped.
#include <cstdint>
#include <map>
#include <string>

namespace xops {

// The text of the first <tag>...</tag> at or after *from ("" when absent); *from moves past it.
std::string s3_xml_tag(const std::string& xml, const std::string& tag, size_t* from = nullptr);

struct S3ListPage {
  std::map<std::string, uint64_t> objects;  // object id (sha256 hex) -> size
  std::string next_token;                   // "" on the last page
};
// One ListObjectsV2 page of keys under `base` ("" or "prefix/").
S3ListPage parse_s3_list_page(const std::string& xml, const std::string& base);

struct S3ErrorBody {
  std::string code, message;
};
S3ErrorBody parse_s3_error(const std::string& xml);

}  // namespace xops
