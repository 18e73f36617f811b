#pragma once
// Where eval answers come from: a local model (path or artifact, optional LoRA adapter), an
// OpenAI-compatible HTTP endpoint, or `exec:` a command.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/eval/suite.hpp"

namespace xops {

class Workspace;

struct ProviderCall {
  std::string output;
  double latency_ms = 0;
  std::string error;  // non-empty: the provider failed (an eval error, not a failed test)
};

class Provider {
 public:
  virtual ~Provider() = default;
  const std::string& label() const { return label_; }
  // Everything that can change the answer (model content hash, config, sampling, seed).
  virtual std::string identity() = 0;
  virtual ProviderCall call(const std::string& prompt) = 0;
  virtual std::vector<float> embed(const std::string& text);  // throws when unsupported
  virtual std::optional<double> perplexity(const std::string& /*prompt*/, const std::string& /*output*/) {
    return std::nullopt;
  }
  // Content hashes this provider evaluates (model files, adapter), for lineage.
  virtual std::map<std::string, std::string> content_hashes() { return {}; }

 protected:
  std::string label_;
};

std::unique_ptr<Provider> make_provider(const ProviderSpec& spec, const Workspace* ws,
                                        const std::filesystem::path& suite_dir);

}  // namespace xops
