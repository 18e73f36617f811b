// Batched metric inserts through core's MetricLogger (the API finetune uses): points/s, into
// a SQLite file or a postgresql:// URL. WRITERS > 1: that many processes at once, each
// logging POINTS points into the same run in batches of 100 (aggregate points/s).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/tracking/tracker.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB_OR_URL [POINTS=1000000] [WRITERS=1]\n", argv[0]);
    return 2;
  }
  long n = argc > 2 ? std::atol(argv[2]) : 1000000;
  int writers = argc > 3 ? std::atoi(argv[3]) : 1;
  std::string url = argv[1];
  std::string id;
  {
    xops::Tracker t(xops::db::Database::open_url(url));
    id = t.start_run({}, nullptr);
  }
  const char* keys[] = {"loss", "lr", "grad_norm", "tokens_per_s"};
  auto t0 = std::chrono::steady_clock::now();
  if (writers <= 1) {
    xops::Tracker t(xops::db::Database::open_url(url));
    xops::MetricLogger log(t, id, 10000);
    for (long i = 0; i < n; ++i) log.log(keys[i % 4], 1.0 / (1 + i), i / 4);
  } else {
    for (int w = 0; w < writers; ++w) {
      if (fork() == 0) {
        try {
          xops::Tracker t(xops::db::Database::open_url(url));
          xops::MetricLogger log(t, id, 100);
          auto key = std::string("w") + std::to_string(w);
          for (long i = 0; i < n; ++i) log.log(key, 1.0 / (1 + i), i);
          log.flush();
          _exit(0);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "writer %d: %s\n", w, e.what());
          _exit(1);
        }
      }
    }
    int failed = 0;
    for (int w = 0; w < writers; ++w) {
      int st = 0;
      ::wait(&st);
      failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    if (failed) return 1;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long total = n * (writers > 1 ? writers : 1);
  xops::Tracker t(xops::db::Database::open_url(url));
  auto st =
      t.db().prepare("SELECT COUNT(*) FROM metrics m JOIN runs r ON r.seq = m.run WHERE r.id = ?");
  st.bind(1, id).step();
  std::printf("{\"points\": %ld, \"landed\": %lld, \"seconds\": %.4f, \"points_per_s\": %.0f}\n",
              total, static_cast<long long>(st.int64(0)), s, total / s);
}
