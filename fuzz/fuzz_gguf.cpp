// A .gguf file: header, metadata, tensor infos, then data; read as a model (config,
// tokenizer, HF-named checkpoint with q/k rows un-permuted) when the metadata allows.
#include "core/model/gguf.hpp"
#include "core/model/gguf_model.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static xops::fuzz::MemFile file("model.gguf");
  const auto& path = file.write(data, size);
  return xops::fuzz::expect_error_or_success([&] {
    auto f = std::shared_ptr<const xops::GgufFile>(xops::GgufFile::open(path));
    volatile uint8_t sink = 0;
    for (const auto& t : f->tensors())  // every tensor must lie inside the mapping
      if (t.nbytes) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
    auto cfg = xops::gguf_model_config(*f);
    auto ckpt = xops::gguf_checkpoint(f, cfg);
    for (const auto& n : ckpt.names()) {
      const auto& v = ckpt.get(n);
      if (v.nbytes) sink = sink ^ static_cast<const uint8_t*>(v.data)[v.nbytes - 1];
    }
    auto tok = xops::gguf_tokenizer(*f);
    (void)tok.encode("Hello, world! 123");
  });
}
