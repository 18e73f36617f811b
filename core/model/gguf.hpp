#pragma once
// GGUF (ggml's file format, docs/gguf.md in ggml): an mmapped reader that validates every
// count, length, shape and offset before it allocates or points at anything, and an atomic
// writer. The tensor types and their encodings are in ggml_types.hpp.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/ggml_types.hpp"

namespace xops {

enum class GgufValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

// One metadata value. Integers are held widened (u for unsigned, i for signed), floats as f.
struct GgufValue {
  GgufValueType type = GgufValueType::U32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  GgufValueType elem = GgufValueType::U32;  // arrays
  std::vector<GgufValue> arr;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue strings(const std::vector<std::string>& v);
  static GgufValue i32s(const std::vector<int32_t>& v);
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;        // ggml's order: ne[0] is the contiguous (row) length
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  uint64_t offset = 0;  // within the data section
  // Row-major shape (PyTorch's order): ne reversed.
  std::vector<int64_t> shape() const;
  int64_t numel() const;
};

class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::filesystem::path& path);
  // Parses a buffer that the caller keeps alive (the fuzz target).
  static std::unique_ptr<GgufFile> parse(const uint8_t* data, size_t size,
                                         const std::string& display);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  // Typed access; nullopt when absent, a runtime error naming the key when of another type.
  std::optional<uint64_t> get_uint(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  std::optional<std::string> get_string(const std::string& key) const;
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* tensor(const std::string& name) const;
  const std::string& display() const { return display_; }

 private:
  GgufFile() = default;
  void parse_all(const uint8_t* base, size_t size);
  std::string display_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  uint32_t version_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensor> tensors_;
};

// True when the file starts with the GGUF magic (false for directories and short files).
bool is_gguf_file(const std::filesystem::path& path);

struct GgufTensorToWrite {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // row-major (PyTorch's order)
  std::vector<uint8_t> bytes;  // already in `type`'s encoding
};

// Writes GGUF v3 (alignment 32) through a temp file, fsync and rename; tensors in order.
void write_gguf(const std::filesystem::path& path,
                const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<GgufTensorToWrite>& tensors);

}  // namespace xops
