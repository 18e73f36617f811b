#pragma once
// The stage graph from declared deps and outs: a dependency on a path another stage writes
// (the path itself, a file inside an output directory, or a directory holding an output)
// is an edge. Refused: a path two stages write, an output inside another output, a stage
// reading its own output, and cycles.
#include <string>
#include <vector>

#include "core/pipeline/pipeline.hpp"

namespace xops::pipeline {

struct Graph {
  const Pipeline* pipeline = nullptr;
  std::vector<std::vector<size_t>> upstream;    // per stage: the stages it reads from
  std::vector<std::vector<size_t>> downstream;  // per stage: the stages reading from it
  std::vector<size_t> order;                    // topological, file order among equals
};

Graph build_graph(const Pipeline& p);

// Stage indices to consider for `targets` (names; NAME also selects every NAME@KEY), in
// topological order: each target with its upstream stages (DVC's repro), or only the
// targets with `single_item`, plus every downstream stage with `downstream`. No targets:
// every stage.
std::vector<size_t> select_stages(const Graph& g, const std::vector<std::string>& targets,
                                  bool single_item, bool downstream);

// `xops dag`: one line per stage in order with the stages it reads from; --dot: Graphviz.
std::string render_dag_text(const Graph& g, const std::vector<size_t>& stages);
std::string render_dag_dot(const Graph& g, const std::vector<size_t>& stages);

bool path_within(const std::string& inner, const std::string& outer);  // equal or below

}  // namespace xops::pipeline
