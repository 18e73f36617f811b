#pragma once
// safetensors: mmap'ed reader (zero-copy views, validated header) and an atomic writer.
// Sharded checkpoints (model.safetensors.index.json) open as one Checkpoint.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace xops {

// Q8_0 is not a safetensors dtype: GGUF's 8-bit blocks (34 bytes per 32 values), seen only
// in checkpoints read from GGUF.
enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, Q8_0 };
size_t dtype_size(DType d);
const char* dtype_name(DType d);
DType parse_dtype(const std::string& s);  // throws

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // points into the mapping
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A model's weights: model.safetensors, or the shards an index names.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir);
  const TensorView* find(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // throws naming the tensor
  std::vector<std::string> names() const;
  // Views made by a converter (GGUF read under HF names); `keep` owns what they point at.
  static Checkpoint from_views(std::vector<TensorView> views, std::shared_ptr<const void> keep,
                               bool linear_layout);
  // GPT-2's Conv1D weights are stored [out, in] (GGUF), not [in, out] (HF).
  bool linear_layout() const { return linear_layout_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<TensorView> views_;
  std::shared_ptr<const void> keep_;
  bool linear_layout_ = false;
  std::map<std::string, const TensorView*> by_name_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
// Writes a .safetensors file (temp + fsync + rename), tensors in the given order.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace xops
