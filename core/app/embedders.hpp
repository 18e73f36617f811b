#pragma once
// An embedding model named on a command line or in a manifest: a model ref (a directory, an
// artifact, NAME@vX, NAME#stage: a BERT encoder or a causal model's mean-pooled states) or
// openai:embedding:MODEL (an OpenAI-compatible /v1/embeddings, `xops serve` included).
#include <memory>
#include <string>

#include "core/index/embedder.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

std::unique_ptr<index::Embedder> open_embedder(const std::string& spec, const Workspace* ws,
                                               int threads = 0);
bool is_provider_spec(const std::string& spec);

}  // namespace xops::app
