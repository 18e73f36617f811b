#include "core/torch/row_projection.hpp"

#include <torch/torch.h>

#include "core/torch/small_gemm.hpp"

namespace xops {

// y = x W^T (+ b) through small_gemm when a few rows decode on the CPU (fp32 accumulation,
// fp32 or bf16 weights); an undefined tensor when it does not apply.
at::Tensor small_linear(const at::Tensor& w, const at::Tensor& b, const at::Tensor& x) {
  if (!x.is_cpu() || x.dim() != 2 || x.size(0) > kSmallGemmMaxRows || !w.is_contiguous()) return {};
  if (w.scalar_type() != at::kFloat && w.scalar_type() != at::kBFloat16) return {};
  if (w.scalar_type() == at::kBFloat16 && x.size(0) > 8)
    return {};  // its oneDNN GEMM is faster there
  auto xf = x.to(at::kFloat).contiguous();
  auto bf = b.defined() ? b.to(at::kFloat).contiguous() : at::Tensor();
  SmallGemm g;
  g.x = xf.data_ptr<float>();
  g.M = static_cast<int>(x.size(0));
  g.K = static_cast<int>(x.size(1));
  g.N = static_cast<int>(w.size(0));
  g.w = w.data_ptr();
  g.w_bf16 = w.scalar_type() == at::kBFloat16;
  g.bias = bf.defined() ? bf.data_ptr<float>() : nullptr;
  if (!small_gemm_supported(g)) return {};
  auto y = at::empty({g.M, g.N}, at::kFloat);
  g.y = y.data_ptr<float>();
  small_gemm(g, at::get_num_threads());
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

// x @ w^T in w's dtype, returned in x's (fp32 activations beside bf16 weights).
at::Tensor linear_as(const at::Tensor& x, const at::Tensor& w) {
  if (x.scalar_type() == w.scalar_type()) return at::linear(x, w);
  return at::linear(x.to(w.scalar_type()), w).to(x.scalar_type());
}

at::Tensor project(const Proj& p, const at::Tensor& xin, const std::vector<RowGroup>& groups) {
  at::Tensor y = p.q8.defined() ? q8_linear(p.q8, p.b, xin)
                 : p.conv1d     ? at::Tensor()
                                : small_linear(p.w, p.b, xin);
  // LibTorch's kernels below want one dtype: fp32 activations meet bf16 weights in bf16.
  const bool cast = !y.defined() && p.w.defined() && xin.scalar_type() != p.w.scalar_type();
  const at::Tensor x = cast ? xin.to(p.w.scalar_type()) : xin;
  if (y.defined()) {
  } else if (x.size(0) == 1) {
    auto v = x.view({-1});
    auto m = p.conv1d ? p.w.t() : p.w;  // [out, in] either way; a transposed view costs nothing
    y = (p.b.defined() ? at::addmv(p.b, m, v) : at::mv(m, v)).view({1, -1});
  } else if (p.conv1d) {
    y = p.b.defined() ? at::addmm(p.b, x, p.w) : at::mm(x, p.w);
  } else {
    y = at::linear(x, p.w, p.b.defined() ? c10::optional<at::Tensor>(p.b) : c10::nullopt);
  }
  if (cast) y = y.to(xin.scalar_type());
  add_adapters(p, xin, y, groups);
  return y;
}

void add_adapters(const Proj& p, const at::Tensor& xin, at::Tensor& y,
                  const std::vector<RowGroup>& groups) {
  if (p.lora_a.defined())
    y.add_(linear_as(linear_as(xin, p.lora_a), p.lora_b).to(y.scalar_type()), p.lora_scale);
  for (const auto& g : groups) {
    if (g.adapter < 0 || static_cast<size_t>(g.adapter) >= p.extra.size()) continue;
    const auto& l = p.extra[static_cast<size_t>(g.adapter)];
    if (!l.a.defined()) continue;
    if (!g.rows.defined()) {
      y.add_(linear_as(linear_as(xin, l.a), l.b).to(y.scalar_type()), l.scale);
    } else {
      auto d = linear_as(linear_as(xin.index_select(0, g.rows), l.a), l.b).to(y.scalar_type());
      y.index_add_(0, g.rows, d, l.scale);
    }
  }
}

std::vector<at::Tensor> project_stacked(const at::Tensor& rows, const std::vector<const Proj*>& ps,
                                        const at::Tensor& xin,
                                        const std::vector<RowGroup>& groups) {
  if (!rows.defined()) return {};
  // Still the weights it was made over (nothing replaced a projection's tensor since).
  const auto row_bytes = static_cast<int64_t>(rows.size(1) * rows.element_size());
  int64_t at_row = 0;
  for (const Proj* p : ps) {
    if (!p->w.defined() ||
        p->w.data_ptr() != static_cast<char*>(rows.data_ptr()) + at_row * row_bytes)
      return {};
    at_row += p->w.size(0);
  }
  auto y = small_linear(rows, at::Tensor(), xin);
  if (!y.defined()) return {};
  std::vector<at::Tensor> out;
  int64_t off = 0;
  for (const Proj* p : ps) {
    auto part = y.narrow(1, off, p->w.size(0));  // a view: rope and attention take row strides
    off += p->w.size(0);
    add_adapters(*p, xin, part, groups);
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace xops
