#pragma once
// File globs in the order promptfoo sees them: it expands `file://` patterns (prompts, test
// files, vars) with the npm `glob` package (v13), which returns matches in its walk order, not
// sorted: Node lists a directory sorted by byte value, the walker takes the entries last to
// first, and `**` visits a directory's own matches before its subdirectories'. So
// `notes/*.txt` gives gamma, beta, _under, Alpha, 2, 10, and a suite's cases come out in the
// order promptfoo runs them.
//
// Patterns: `*`, `?`, `[...]` within a path segment (fnmatch, a leading dot only matched
// explicitly, as glob's default `dot: false`), and `**` for any number of directories (not
// following symlinked directories, as glob's default `follow: false`). No braces.
#include <filesystem>
#include <string>
#include <vector>

namespace xops {

struct NodeGlobLimits {
  size_t max_matches = 10000;    // then it throws (a suite that big is a mistake)
  size_t max_entries = 1000000;  // directory entries looked at, across the walk
};

// Paths (absolute when `pattern` is) matching `pattern`, regular files and directories alike,
// each once, in glob 13's order. Throws xops::Error past a limit.
std::vector<std::filesystem::path> node_glob(const std::string& pattern,
                                             const NodeGlobLimits& limits = {});

}  // namespace xops
