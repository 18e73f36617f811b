// A pipeline as a clone brings it: dvc.yaml (stages, vars, ${}, foreach) and dvc.lock. The
// input is read as both; each must load or be refused with an xops::Error, and a pipeline that
// loads must give a graph (or a refusal), a selection and a rendering without leaving its data.
// A params.yaml beside it gives ${} something to read.
#include "core/pipeline/dvc_yaml.hpp"
#include "core/pipeline/graph.hpp"
#include "core/pipeline/lock.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = [] {
    auto d = xops::fuzz::scratch_dir() / "pipeline";
    std::filesystem::create_directories(d);
    const char params[] = "lr: 0.1\nsizes: {a: 1, b: 2}\nlist: [x, y]\ntrain: {epochs: 3}\n";
    xops::fuzz::write_file(d / "params.yaml", reinterpret_cast<const uint8_t*>(params),
                           sizeof params - 1);
    return d;
  }();
  xops::fuzz::write_file(dir / "dvc.yaml", data, size);
  std::string text(reinterpret_cast<const char*>(data), size);
  int a = xops::fuzz::expect_error_or_success([&] {
    auto p = xops::pipeline::load_pipeline(dir);
    auto g = xops::pipeline::build_graph(p);
    auto sel = xops::pipeline::select_stages(g, {}, false, false);
    xops::pipeline::render_dag_text(g, sel);
    xops::pipeline::render_dag_dot(g, sel);
    if (!p.stages.empty()) xops::pipeline::select_stages(g, {p.stages.back().name}, false, true);
  });
  int b = xops::fuzz::expect_error_or_success([&] {
    auto lock = xops::pipeline::parse_lock(text, "dvc.lock");
    std::vector<std::string> order;
    for (const auto& [name, s] : lock.stages) order.push_back(name);
    xops::pipeline::parse_lock(xops::pipeline::render_lock(lock, order), "dvc.lock");
  });
  return a | b;
}
