// An eval suite (YAML). It may name a cases file: the scratch directory holds a fixed
// cases.jsonl and cases.csv so that `tests: file://cases.jsonl` paths are exercised too.
#include "core/eval/suite.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto dir = [] {
    auto d = xops::fuzz::scratch_dir() / "suite";
    std::filesystem::create_directories(d);
    const char jsonl[] =
        "{\"vars\": {\"a\": 1}, \"assert\": [{\"type\": \"equals\", \"value\": \"1\"}]}\n";
    const char csv[] = "a,__expected\n1,contains:1\n";
    xops::fuzz::write_file(d / "cases.jsonl", reinterpret_cast<const uint8_t*>(jsonl),
                           sizeof jsonl - 1);
    xops::fuzz::write_file(d / "cases.csv", reinterpret_cast<const uint8_t*>(csv), sizeof csv - 1);
    return d;
  }();
  xops::fuzz::write_file(dir / "suite.yaml", data, size);
  return xops::fuzz::expect_error_or_success([&] {
    std::vector<std::string> warnings;
    auto s = xops::load_suite(dir / "suite.yaml", &warnings);
    for (const auto& t : s.tests)
      for (const auto& p : s.prompts) xops::render_prompt(p, t.values);
  });
}
