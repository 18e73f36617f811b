// This machine's ceilings. Memory bandwidth bounds a decode step (which reads every weight
// once): a STREAM-style triad (a = b + s*c) and a read-only sum of one large array (what a
// matrix-vector product over weights does), each on 1 and on N threads, best of several
// passes over arrays far larger than the caches. Peak arithmetic bounds prefill: fp32 FMAs
// (12 independent AVX-512 chains per thread, so latency never limits) in FLOP/s. Prints JSON;
// bench/generate.sh divides each decode figure's weight traffic by the read bandwidth and
// each prefill figure's matrix FLOPs by the peak.
//   xops_bench_bandwidth [MIB_PER_ARRAY (512)] [THREADS (2)] [PASSES (6)]
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;

double seconds_since(clk::time_point t) {
  return std::chrono::duration<double>(clk::now() - t).count();
}

// Each thread takes a contiguous block (as the decode kernels' threads take rows).
__attribute__((target("avx512f"))) double read_sum(const float* a, size_t n, int threads) {
  double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    size_t lo = n / nt * t, hi = t == nt - 1 ? n : n / nt * (t + 1);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = lo;
    for (; i + 64 <= hi; i += 64) {
      s0 = _mm512_add_ps(s0, _mm512_loadu_ps(a + i));
      s1 = _mm512_add_ps(s1, _mm512_loadu_ps(a + i + 16));
      s2 = _mm512_add_ps(s2, _mm512_loadu_ps(a + i + 32));
      s3 = _mm512_add_ps(s3, _mm512_loadu_ps(a + i + 48));
    }
    float rest = 0;
    for (; i < hi; ++i) rest += a[i];
    total +=
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))) + rest;
  }
  return total;
}

__attribute__((target("avx512f"))) double fma_flops(int threads) {
  const long iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = clk::now();
    float keep = 0;
#pragma omp parallel num_threads(threads) reduction(+ : keep)
    {
      // Twelve named accumulators: an array of them is kept in memory by GCC at -O2.
      __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(.1f), a2 = _mm512_set1_ps(.2f),
             a3 = _mm512_set1_ps(.3f), a4 = _mm512_set1_ps(.4f), a5 = _mm512_set1_ps(.5f),
             a6 = _mm512_set1_ps(.6f), a7 = _mm512_set1_ps(.7f), a8 = _mm512_set1_ps(.8f),
             a9 = _mm512_set1_ps(.9f), a10 = _mm512_set1_ps(1.f), a11 = _mm512_set1_ps(1.1f);
      const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
      for (long i = 0; i < iters; ++i) {
        a0 = _mm512_fmadd_ps(a0, m, c), a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c), a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c), a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c), a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c), a9 = _mm512_fmadd_ps(a9, m, c);
        a10 = _mm512_fmadd_ps(a10, m, c), a11 = _mm512_fmadd_ps(a11, m, c);
      }
      __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                               _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
      s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
      keep += _mm512_reduce_add_ps(s);
    }
    double secs = seconds_since(t0);
    best = std::max(best, threads * iters * 12.0 * 16 * 2 / secs + keep * 0);
  }
  return best;
}

void triad(float* a, const float* b, const float* c, size_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const int passes = argc > 3 ? std::atoi(argv[3]) : 6;
  const size_t n = mib * (1u << 20) / sizeof(float);
  std::vector<float> a(n, 1.0f), b(n, 2.0f), c(n, 0.5f);
  std::printf("{\"mib_per_array\": %zu, \"passes\": %d", mib, passes);
  volatile double sink = 0;
  for (int t : {1, threads}) {
    double best_read = 1e30, best_triad = 1e30;
    for (int p = 0; p < passes; ++p) {
      auto t0 = clk::now();
      sink = sink + read_sum(b.data(), n, t);
      best_read = std::min(best_read, seconds_since(t0));
      t0 = clk::now();
      triad(a.data(), b.data(), c.data(), n, t);
      best_triad = std::min(best_triad, seconds_since(t0));
    }
    // STREAM's convention: the triad moves 3 arrays (the write-allocate read not counted).
    std::printf(", \"read_gbs_%d\": %.2f, \"triad_gbs_%d\": %.2f, \"fp32_gflops_%d\": %.1f", t,
                n * sizeof(float) / best_read / 1e9, t, 3.0 * n * sizeof(float) / best_triad / 1e9,
                t, fma_flops(t) / 1e9);
    if (t == threads) break;
  }
  std::printf(", \"threads\": %d}\n", threads);
  return sink == 12345.0;  // keeps the sums alive
}
