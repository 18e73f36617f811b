#include "core/store/s3_xml.hpp"

#include <cstdlib>

#include "core/store/sha256.hpp"

namespace xops {

std::string s3_xml_tag(const std::string& xml, const std::string& tag, size_t* from) {
  size_t start = from ? *from : 0;
  auto a = xml.find("<" + tag + ">", start);
  if (a == std::string::npos) return "";
  a += tag.size() + 2;
  auto b = xml.find("</" + tag + ">", a);
  if (b == std::string::npos) return "";
  if (from) *from = b + tag.size() + 3;
  return xml.substr(a, b - a);
}

S3ListPage parse_s3_list_page(const std::string& xml, const std::string& base) {
  S3ListPage page;
  size_t pos = 0;
  while (true) {
    size_t at = xml.find("<Contents>", pos);
    if (at == std::string::npos) break;
    size_t end = xml.find("</Contents>", at);
    if (end == std::string::npos) break;
    auto item = xml.substr(at, end - at);
    pos = end;
    auto key = s3_xml_tag(item, "Key");
    if (key.size() != base.size() + 65 || key.compare(0, base.size(), base) != 0) continue;
    auto rel = key.substr(base.size());
    if (rel[2] != '/') continue;
    auto id = rel.substr(0, 2) + rel.substr(3);
    if (!is_sha256_hex(id)) continue;  // not one of ours
    page.objects[id] = std::strtoull(s3_xml_tag(item, "Size").c_str(), nullptr, 10);
  }
  if (s3_xml_tag(xml, "IsTruncated") == "true")
    page.next_token = s3_xml_tag(xml, "NextContinuationToken");
  return page;
}

S3ErrorBody parse_s3_error(const std::string& xml) {
  return {s3_xml_tag(xml, "Code"), s3_xml_tag(xml, "Message")};
}

}  // namespace xops
