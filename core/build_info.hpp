#pragma once
// Facts fixed when the binary was built (generated from cmake/build_info.cpp.in).
namespace xops {
const char* version();
const char* git_commit();
const char* build_type();
}  // namespace xops
