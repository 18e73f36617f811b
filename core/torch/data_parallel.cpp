#include "core/torch/data_parallel.hpp"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/error.hpp"

namespace xops {

namespace {

// c10::Error's what() carries a C++ backtrace; the message alone is what a user reads.
std::string short_what(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

// Which network interface Gloo talks over: GLOO_SOCKET_IFNAME as PyTorch honours it; loopback
// when every rank is on this machine; otherwise the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const WorldSpec& w) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (w.local_world_size == w.world_size)
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

struct DataParallel::Impl {
  WorldSpec world;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::shared_ptr<c10d::Reducer> reducer;
  std::vector<std::string> hosts;
};

DataParallel::DataParallel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataParallel::~DataParallel() = default;

std::unique_ptr<DataParallel> DataParallel::connect(const WorldSpec& w, bool cuda) {
  auto impl = std::make_unique<Impl>();
  impl->world = w;
  const auto timeout = std::chrono::milliseconds(1000LL * w.timeout_s);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(w.master_port);
    so.isServer = w.rank == 0;
    so.numWorkers = static_cast<size_t>(w.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, so);
    // Every rank's host, for the run's record.
    auto mine = host_name();
    impl->store->set("xops/host/" + std::to_string(w.rank),
                     std::vector<uint8_t>(mine.begin(), mine.end()));
    for (int r = 0; r < w.world_size; ++r) {
      auto v = impl->store->get("xops/host/" + std::to_string(r));
      impl->hosts.emplace_back(v.begin(), v.end());
    }
  } catch (const std::exception& e) {
    throw runtime_error(
        fmt::format("rank {}: no rendezvous of {} ranks at {}:{} within {} s: {}", w.rank,
                    w.world_size, w.master_addr, w.master_port, w.timeout_s, short_what(e)),
        "start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE (rank 0 listens "
        "there); XOPS_DIST_TIMEOUT raises the wait");
  }
  try {
    auto prefix = c10::make_intrusive<c10d::PrefixStore>("xops/pg", impl->store);
    if (cuda) {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefix, w.rank, w.world_size, o);
#else
      throw usage_error("this LibTorch has no NCCL: distributed training on CUDA is not available",
                        "train with device: cpu (Gloo), or build against a CUDA PyTorch");
#endif
    } else {
      auto o = c10d::ProcessGroupGloo::Options::create();
      o->devices.push_back(gloo_device(w));
      o->timeout = timeout;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefix, w.rank, w.world_size, o);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw runtime_error(
        fmt::format("rank {}: the process group of {} ranks did not form: {}", w.rank, w.world_size,
                    short_what(e)),
        "every rank must reach every other; set GLOO_SOCKET_IFNAME to the interface they share");
  }
  return std::unique_ptr<DataParallel>(new DataParallel(std::move(impl)));
}

int DataParallel::rank() const {
  return impl_->world.rank;
}
int DataParallel::world_size() const {
  return impl_->world.world_size;
}
const std::vector<std::string>& DataParallel::hosts() const {
  return impl_->hosts;
}

void DataParallel::broadcast(std::vector<at::Tensor> tensors) {
  if (tensors.empty()) return;
  guarded("broadcast", [&] {
    // One collective for all of them: flattened into a buffer per dtype.
    std::map<at::ScalarType, std::vector<at::Tensor>> by_type;
    for (auto& t : tensors) by_type[t.scalar_type()].push_back(t);
    for (auto& [type, ts] : by_type) {
      std::vector<at::Tensor> flat;
      for (auto& t : ts) flat.push_back(t.detach().reshape({-1}));
      std::vector<at::Tensor> buf{at::cat(flat)};
      impl_->pg->broadcast(buf)->wait();
      int64_t off = 0;
      at::NoGradGuard no_grad;
      for (auto& t : ts) {
        t.copy_(buf[0].narrow(0, off, t.numel()).view(t.sizes()));
        off += t.numel();
      }
    }
  });
}

std::string DataParallel::broadcast_bytes(const std::string& from_rank0) {
  return guarded("broadcast", [&] {
    std::vector<at::Tensor> n{at::tensor({static_cast<int64_t>(from_rank0.size())}, at::kLong)};
    impl_->pg->broadcast(n)->wait();
    const int64_t size = n[0].item<int64_t>();
    std::vector<at::Tensor> buf{at::empty({std::max<int64_t>(size, 1)}, at::kByte)};
    if (rank() == 0 && size > 0)
      std::memcpy(buf[0].data_ptr(), from_rank0.data(), from_rank0.size());
    impl_->pg->broadcast(buf)->wait();
    return std::string(static_cast<const char*>(buf[0].data_ptr()), static_cast<size_t>(size));
  });
}

void DataParallel::all_reduce_sum(at::Tensor& t) {
  guarded("all-reduce", [&] {
    std::vector<at::Tensor> v{t};
    impl_->pg->allreduce(v)->wait();
  });
}

void DataParallel::attach(const std::vector<at::Tensor>& params) {
  std::vector<bool> sparse(params.size(), false);
  auto assignment =
      c10d::compute_bucket_assignment_by_size(params,
                                              {static_cast<size_t>(c10d::kDefaultFirstBucketBytes),
                                               static_cast<size_t>(c10d::kDefaultBucketBytesCap)},
                                              sparse);
  auto buckets = std::get<0>(assignment);
  auto limits = std::get<1>(assignment);
  // Backward produces gradients roughly in reverse order of the parameters: the last
  // parameters' bucket is ready first (what DDP passes).
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  impl_->reducer = std::make_shared<c10d::Reducer>(
      params, buckets, limits, impl_->pg, sparse, c10d::kDefaultBucketBytesCap,
      /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
      std::unordered_map<size_t, std::string>{}, c10d::kDefaultFirstBucketBytes);
}

void DataParallel::prepare_for_backward() {
  if (impl_->reducer) impl_->reducer->prepare_for_backward({});
}

void DataParallel::rethrow(const char* what, const std::exception& e) const {
  if (const auto* err = dynamic_cast<const Error*>(&e)) throw *err;
  throw runtime_error(
      fmt::format("rank {} of {}: {} failed: {}", rank(), world_size(), what, short_what(e)),
      "another worker has probably stopped (its own error says why) or become unreachable");
}

}  // namespace xops
