#pragma once
// libxops_s3.so's entry point (core/s3lib), loaded on the first s3:// remote.
#include <memory>

#include "core/store/remote.hpp"

namespace xops {

constexpr int kS3Abi = 2;

class S3Library {
 public:
  virtual ~S3Library() = default;
  // interrupted: the host's interrupt flag. The plugin links its own copy of core, whose
  // signal flag no handler ever sets; reading that one, Ctrl-C never stopped a transfer.
  virtual std::unique_ptr<Remote> open(const RemoteConfig& cfg, bool (*interrupted)()) = 0;
};

}  // namespace xops
