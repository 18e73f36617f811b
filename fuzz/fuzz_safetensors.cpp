// A .safetensors file: an 8-byte header length, a JSON header, then tensor data.
#include "core/model/safetensors.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static xops::fuzz::MemFile file("model.safetensors");
  const auto& path = file.write(data, size);
  return xops::fuzz::expect_error_or_success([&] {
    auto f = xops::SafetensorsFile::open(path);
    volatile uint8_t sink = 0;
    for (const auto& t : f->tensors())  // every view must lie inside the mapping
      if (t.nbytes) sink = sink ^ static_cast<const uint8_t*>(t.data)[t.nbytes - 1];
  });
}
