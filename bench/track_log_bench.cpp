// Batched metric inserts through core's MetricLogger (the API finetune uses): points/s.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/tracking/tracker.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB [POINTS=1000000]\n", argv[0]);
    return 2;
  }
  long n = argc > 2 ? std::atol(argv[2]) : 1000000;
  xops::Tracker t(argv[1]);
  auto id = t.start_run({}, nullptr);
  auto t0 = std::chrono::steady_clock::now();
  {
    xops::MetricLogger log(t, id, 10000);
    const char* keys[] = {"loss", "lr", "grad_norm", "tokens_per_s"};
    for (long i = 0; i < n; ++i) log.log(keys[i % 4], 1.0 / (1 + i), i / 4);
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"points\": %ld, \"seconds\": %.4f, \"points_per_s\": %.0f}\n", n, s, n / s);
}
