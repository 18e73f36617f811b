#pragma once
// libxops_s3.so's entry point (core/s3lib), loaded on the first s3:// remote.
#include <memory>

#include "core/store/remote.hpp"

namespace xops {

constexpr int kS3Abi = 1;

class S3Library {
 public:
  virtual ~S3Library() = default;
  virtual std::unique_ptr<Remote> open(const RemoteConfig& cfg) = 0;
};

}  // namespace xops
