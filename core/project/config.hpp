#pragma once
// xops.yaml as typed structs, validated with file:line:column in every message, and the
// layered settings (flags > XOPS_* env > xops.yaml > user config > defaults).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xops {

struct ArtifactConfig {
  std::string name;
  std::string path;
  std::string type = "model";  // model | adapter | dataset | prompt | index | other
  std::string description;
};

struct RemoteConfig {
  std::string name;
  std::string url;  // a directory (or mounted filesystem), file://PATH, or s3://bucket/prefix
  bool is_default = false;
  std::string endpoint_url, region, profile;  // s3:// only (S3-compatible stores, AWS profiles)
};

// One gate of a stage: an eval suite that must have passed on exactly the promoted content
// (optionally no worse than the version now in the stage on named metrics), or a sign-off.
struct GateConfig {
  std::string stage;
  std::string eval;  // suite path ("" for a sign-off gate)
  double min_pass_rate = 1.0;
  std::vector<std::string>
      no_regression;      // run metrics (pass_rate, metric/NAME) vs the stage's holder
  double tolerance = 0;   // how far below the holder a metric may be
  bool approval = false;  // `approve: true`: needs `xops promote --approve`
  // `pairwise: {suite, baseline, min_win_rate, max_regressions}`: the suite (in `eval`) run
  // with --baseline; the candidate judged against `baseline`: a stage (the version that held
  // it before the candidate) or a registry ref (NAME@vX.Y.Z, NAME#STAGE, NAME#STAGE~N).
  bool pairwise = false;
  std::string baseline;
  std::optional<double> min_win_rate;  // of the judged pairs (both orders), ties half
  std::optional<int> max_regressions;  // cases passed by the baseline and failed now
  // `online_pairwise: {min_win_rate, min_pairs}`: judged on live traffic (serve --shadow, then
  // xops eval --from-logs --pairwise): at least min_pairs pairs, the win rate at least this.
  bool online_pairwise = false;
  int min_pairs = 1;
  // `artifacts: [NAME, ...]`: the artifacts the gate applies to (empty: every one; a pairwise
  // gate: every model and adapter).
  std::vector<std::string> artifacts;
  std::string where;  // xops.yaml:LINE, for messages
  bool applies_to(const std::string& artifact, const std::string& type) const;
};

// `monitor:`: what `xops monitor --check` holds each served version to, over `since`.
struct MonitorConfig {
  std::string since = "1d";
  std::optional<double> max_p95_latency_ms, max_p95_ttft_ms, max_error_rate;
  // The lowest mean per feedback score name (`min_feedback_mean: 0.6` is the default score's;
  // `{helpful: 3.5}` names them).
  std::map<std::string, double> min_feedback_mean;
  // Drift of prompt/answer lengths against the window before (PSI above this and KS past its
  // 5% critical value).
  std::optional<double> max_psi;
  // Prompt drift against an eval suite in an embedding space (monitor --drift --suite):
  // the suite, the embedding provider, and the largest share of served prompts farther from
  // every case than the suite's cases are from each other (embedding_drift.hpp).
  std::string drift_suite, embedding;
  std::optional<double> max_prompt_drift;
  size_t min_requests = 1;  // a version with fewer requests in the window is not judged
  std::string where;        // xops.yaml:LINE of the section
  bool any() const {
    return max_p95_latency_ms || max_p95_ttft_ms || max_error_rate || !min_feedback_mean.empty() ||
           max_psi || max_prompt_drift;
  }
};

// One named feedback score of `feedback: {scores: {NAME: {min, max, integer}}}`: what
// POST /v1/feedback accepts (out of range: 400). Undeclared, the one score is "score", 0..1.
struct ScoreSpec {
  double min = 0, max = 1;
  bool integer = false;
  std::string description;
};

struct ProjectConfig {
  std::filesystem::path file;  // where it was read from
  std::string name;
  std::vector<std::string> stages{"dev", "staging", "prod"};
  std::vector<ArtifactConfig> artifacts;
  std::vector<RemoteConfig> remotes;
  std::vector<GateConfig> gates;
  MonitorConfig monitor;
  std::map<std::string, ScoreSpec> feedback_scores{{"score", {}}};
  std::string feedback_where;  // xops.yaml:LINE of `feedback:` ("" when not declared)
  std::string tracking;        // `tracking:`: a postgresql:// URL (no password) or a SQLite path
  std::string tracking_where;  // xops.yaml:LINE
  std::map<std::string, std::string> defaults;        // the `defaults:` section, raw
  std::map<std::string, std::string> defaults_where;  // key -> "xops.yaml:LINE"

  const RemoteConfig* default_remote() const;
  const RemoteConfig* remote(const std::string& name) const;
};

// Parses a project file; unknown keys become warnings ("xops.yaml:7: unknown key 'foo'"),
// type errors and missing required keys throw Error naming file:line:column.
ProjectConfig load_project_config(const std::filesystem::path& file,
                                  std::vector<std::string>* warnings);
ProjectConfig parse_project_config(const std::string& text, const std::string& display_name,
                                   std::vector<std::string>* warnings);

// One resolved setting and where its value came from.
struct Setting {
  std::string value;
  std::string origin;  // "default", "flag --threads", "env XOPS_THREADS", "xops.yaml:12", ...
};

struct SettingSpec {
  const char* key;
  const char* default_value;
  const char* help;
};
const std::vector<SettingSpec>& setting_specs();

class Settings {
 public:
  // flags: values given on the command line (key -> value). project may be null outside a
  // workspace. user_file: ~/.config/xops/config.yaml (or $XOPS_CONFIG_HOME/config.yaml).
  static Settings resolve(const std::map<std::string, std::string>& flags,
                          const ProjectConfig* project,
                          const std::optional<std::filesystem::path>& user_file,
                          std::vector<std::string>* warnings);
  const Setting& get(const std::string& key) const;
  int get_int(const std::string& key) const;
  const std::map<std::string, Setting>& all() const { return values_; }

 private:
  std::map<std::string, Setting> values_;
};

std::optional<std::filesystem::path> default_user_config_path();

}  // namespace xops
