#pragma once
// The grammar of an s3:// remote URL, checked where xops.yaml is read (config) and where the
// remote is opened (store). Settings and signing are core/store/s3_config.hpp.
#include <string>

namespace xops {

struct S3Location {
  std::string bucket, prefix;  // prefix: "" or "a/b" (no leading or trailing '/')
};
// Parses s3://bucket[/prefix]; a usage error names what is wrong.
S3Location parse_s3_url(const std::string& url);

}  // namespace xops
