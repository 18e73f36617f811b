#pragma once
// Drift of what users ask against what the eval suite tests, in an embedding space: each
// served prompt's nearest suite case (cosine similarity), against how near the suite's own
// cases are to each other. If traffic looked like the suite, about `quantile` (5%) of served
// prompts would be farther from every case than the suite's 5th-percentile nearest-neighbour
// similarity; a one-sided binomial test says whether the share beyond it is larger. The
// prompts farthest from every case are the examples of what drifted.
#include <cstddef>
#include <vector>

namespace xops {

struct EmbeddingDrift {
  size_t n_reference = 0, n_current = 0;
  double centroid_distance = 0;  // 1 - cosine(mean reference, mean current)
  // The reference's `quantile` nearest-neighbour similarity (each case against the others).
  double threshold = 0;
  double quantile = 0.05;
  double share_beyond = 0;  // current prompts whose nearest case is less similar than that
  double p_value = 1;       // P(at least that many beyond | share = quantile), binomial
  bool drifted = false;     // p_value < 0.01 and share_beyond > 2 * quantile
  struct Example {
    size_t current = 0, nearest = 0;  // indexes into the two inputs
    double similarity = 0;            // to its nearest reference
  };
  std::vector<Example> farthest;  // at most 5, the least similar first
};

// Throws a usage error with fewer than 5 reference or 1 current vectors, or mixed dimensions.
EmbeddingDrift embedding_drift(const std::vector<std::vector<float>>& reference,
                               const std::vector<std::vector<float>>& current,
                               double quantile = 0.05);

// P(X >= k) for X ~ Binomial(n, p) (exposed for tests).
double binomial_tail(size_t k, size_t n, double p);

}  // namespace xops
