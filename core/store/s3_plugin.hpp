#pragma once
// libxops_s3.so's entry point (core/s3lib), loaded on the first s3:// remote.
#include <memory>

#include "core/store/remote.hpp"

namespace xops {

constexpr int kS3Abi = 3;

class S3Library {
 public:
  virtual ~S3Library() = default;
  // Transfers stop on Ctrl-C: the plugin reads the process's one interrupt flag
  // (libxops_base.so; ABI 2 passed the host's flag in, when each plugin had its own copy).
  virtual std::unique_ptr<Remote> open(const RemoteConfig& cfg) = 0;
};

}  // namespace xops
