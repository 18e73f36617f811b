#pragma once
// How much of real traffic an eval suite covers, in an embedding space: a served prompt is
// covered when some case is at least `threshold` similar to it (cosine). The automatic
// threshold is how near the suite's own cases are to each other (the 5th percentile of each
// case's nearest other case): a prompt farther from every case than that looks like nothing
// the suite asks. Uncovered prompts are grouped (greedy leader clustering at the same
// threshold, largest group first) so a topic the suite never asks about shows as one cluster
// with examples.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace xops {

struct CoverageCluster {
  std::vector<size_t> members;         // indexes into the prompts, the leader first
  double nearest_case_similarity = 0;  // the leader's similarity to its nearest case
  size_t nearest_case = 0;
};

struct Coverage {
  double threshold = 0;
  bool threshold_auto = true;
  size_t prompts = 0, covered = 0;
  double share() const { return prompts ? double(covered) / double(prompts) : 0; }
  std::map<std::string, std::pair<size_t, size_t>> by_group;  // group -> (covered, prompts)
  std::vector<double> nearest;       // per prompt: its similarity to the nearest case
  std::vector<size_t> nearest_case;  // per prompt: that case
  std::vector<CoverageCluster> uncovered;
};

// threshold <= 0: automatic (needs 2+ cases). groups: one label per prompt (a version), or empty.
Coverage coverage(const std::vector<std::vector<float>>& cases,
                  const std::vector<std::vector<float>>& prompts,
                  const std::vector<std::string>& groups, double threshold = 0,
                  size_t max_clusters = 10);

// The n prompts farthest from the suite, worse-scored first among equals: ranked by
// (1 - nearest similarity) + penalty * (1 - score) where score in [0, 1] is the prompt's
// normalised feedback (absent: no penalty). Indexes into the prompts.
std::vector<size_t> most_novel(const std::vector<double>& nearest,
                               const std::vector<double>& scores, size_t n, double penalty = 0.5);

}  // namespace xops
