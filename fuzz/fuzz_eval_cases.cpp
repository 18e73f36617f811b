// Eval cases files (JSONL and CSV) named by a fixed suite: the input is both.
#include "core/eval/suite.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto dir = [] {
    auto d = xops::fuzz::scratch_dir() / "cases";
    std::filesystem::create_directories(d);
    for (const char* ext : {"jsonl", "csv"}) {
      std::string suite =
          std::string(
              "prompts: [\"{{a}} {{b}}\"]\nproviders: [\"exec:true\"]\ntests: file://cases.") +
          ext + "\n";
      xops::fuzz::write_file(d / (std::string("suite-") + ext + ".yaml"),
                             reinterpret_cast<const uint8_t*>(suite.data()), suite.size());
    }
    return d;
  }();
  xops::fuzz::write_file(dir / "cases.jsonl", data, size);
  xops::fuzz::write_file(dir / "cases.csv", data, size);
  for (const char* ext : {"jsonl", "csv"})
    xops::fuzz::expect_error_or_success([&] {
      std::vector<std::string> warnings;
      auto s = xops::load_suite(dir / (std::string("suite-") + ext + ".yaml"), &warnings);
      for (const auto& t : s.tests) xops::render_template(s.prompts[0].text, t.vars);
    });
  return 0;
}
