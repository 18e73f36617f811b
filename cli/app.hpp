#pragma once
namespace xops::cli {
// Builds the CLI, parses argv, runs the chosen command; the single place that turns
// errors into `xops: error: ...` and exit codes (see DESIGN.md / README).
int run(int argc, char** argv);
}  // namespace xops::cli
