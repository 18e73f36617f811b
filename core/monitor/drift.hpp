#pragma once
// Drift of served traffic: the current window against a reference window, per figure (prompt
// length and answer length in tokens), by the population stability index over the reference's
// deciles and the two-sample Kolmogorov-Smirnov statistic with its 5% critical value; and the
// shares of truncated (finish_reason length), empty and refused answers beside each other.
#include <cstdint>
#include <string>
#include <vector>

#include "core/db/database.hpp"

namespace xops {

struct DriftWindow {
  int64_t from_ms = 0, to_ms = 0;  // [from, to)
};

struct DriftFigure {
  std::string name;  // prompt_tokens | completion_tokens
  size_t n_reference = 0, n_current = 0;
  double mean_reference = 0, mean_current = 0;
  double psi = 0;          // > 0.25: a major shift, 0.1-0.25: moderate (the usual reading)
  double ks = 0;           // the largest gap between the two empirical distributions
  double ks_critical = 0;  // 1.358 * sqrt((n + m) / (n m)): above it, a shift at the 5% level
  bool drifted = false;    // psi > the threshold and ks > its critical value
};

struct DriftReport {
  DriftWindow reference, current;
  std::vector<DriftFigure> figures;
  double truncated_reference = 0, truncated_current = 0;  // shares of finish_reason length
  double empty_reference = 0, empty_current = 0;          // shares of answers with no token
  double refused_reference = 0, refused_current = 0;      // shares of answers that decline
};

// Phrases whose presence in an answer's first 200 characters (lower-cased) marks it refused:
// "I can't", "I'm sorry", "As an AI", ... (a heuristic, English only).
extern const std::vector<const char*> kRefusalOpenings;

// One figure from two samples: means, PSI, KS and its 5% critical value, drifted or not.
DriftFigure compare_samples(const std::string& name, const std::vector<double>& reference,
                            const std::vector<double>& current, double psi_threshold);

// `only`: a served model id or version ("" = all); psi_threshold: what counts as drift.
DriftReport traffic_drift(db::Database& db, const DriftWindow& reference,
                          const DriftWindow& current, const std::string& only,
                          double psi_threshold = 0.25);

// The statistics on two samples (exposed for tests): PSI over the reference's deciles (empty
// bins smoothed by 0.5 / n), and the KS statistic.
double population_stability(std::vector<double> reference, std::vector<double> current);
double ks_statistic(std::vector<double> a, std::vector<double> b);

}  // namespace xops
