#include "term/progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace xops::cli {

std::string human_bytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", n) : fmt::format("{:.1f} {}", n, units[u]);
}

std::string human_duration(double s) {
  if (s < 0 || s > 1e7) return "--";
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", int(s) / 60, int(s) % 60);
  return fmt::format("{}h{:02}m", int(s) / 3600, (int(s) % 3600) / 60);
}

ProgressBar::ProgressBar(const Output& o, std::string label, uint64_t total, bool bytes)
    : enabled_(o.stderr_tty() && !o.options().quiet && !o.json()),
      label_(std::move(label)),
      total_(total),
      bytes_(bytes),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::advance(uint64_t n) {
  done_ += n;
  if (enabled_) draw(false);
}

void ProgressBar::set(uint64_t done) {
  done_ = done;
  if (enabled_) draw(false);
}

void ProgressBar::set_suffix(std::string s) {
  std::lock_guard<std::mutex> lock(mu_);
  suffix_ = std::move(s);
}

std::string ProgressBar::render(uint64_t done, double elapsed, int width) const {
  double rate = elapsed > 0 ? done / elapsed : 0;
  std::string count = bytes_ ? fmt::format("{}/{}", human_bytes(done), human_bytes(total_))
                             : fmt::format("{}/{}", done, total_);
  std::string speed = bytes_ ? human_bytes(rate) + "/s" : fmt::format("{:.1f}/s", rate);
  double eta = rate > 0 && total_ > done ? (total_ - done) / rate : 0;
  std::string right = fmt::format(" {} {} ETA {}{}{}", count, speed, human_duration(eta),
                                  suffix_.empty() ? "" : " ", suffix_);
  int bar_w = width - static_cast<int>(label_.size() + right.size()) - 3;
  std::string bar;
  if (bar_w >= 10) {
    double frac = total_ ? std::min(1.0, double(done) / total_) : 0;
    int filled = static_cast<int>(frac * bar_w);
    bar = " [" + std::string(filled, '#') + std::string(bar_w - filled, '-') + "]";
  }
  return label_ + bar + right;
}

void ProgressBar::draw(bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  struct winsize ws {};
  int width = (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col) ? ws.ws_col : 80;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  auto text = render(done_.load(), elapsed, width - 1);
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  std::fputc('\n', stderr);
}

}  // namespace xops::cli
