#pragma once
// ggml's tensor types as GGUF stores them, and the encodings xops reads and writes: F32, F16,
// BF16 and Q8_0 (blocks of 32 int8 with one fp16 scale, exactly as ggml's
// quantize_row_q8_0_ref), converted bit for bit as ggml's reference code does.
#include <cstdint>
#include <string>
#include <vector>

namespace xops {

// ggml tensor types (ggml.h). xops loads and writes F32, F16, BF16 and Q8_0.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(uint32_t type);  // any ggml type id; "unknown" past the table
bool ggml_type_supported(uint32_t type);
// Elements per block and bytes per block (1 and 4 for F32; 32 and 34 for Q8_0).
int64_t ggml_block_size(GgmlType t);
int64_t ggml_block_bytes(GgmlType t);
GgmlType parse_ggml_type(const std::string& name);  // f32|f16|bf16|q8_0, throws a usage error

// Conversions, bit-for-bit as ggml's reference code (round to nearest even for fp16/bf16).
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);
float bf16_to_fp32(uint16_t h);
// Encodes n floats (n a multiple of 32 for Q8_0) into `type`.
std::vector<uint8_t> ggml_encode(GgmlType type, const float* x, int64_t n);
// Decodes n elements of `type` into floats.
void ggml_decode(GgmlType type, const uint8_t* src, int64_t n, float* out);

}  // namespace xops
