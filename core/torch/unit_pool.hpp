#pragma once
// The engine's own worker threads for the decode kernels (projections, attention).
//
// Why not OpenMP: an OpenMP parallel region ends in a barrier that waits for every thread of
// the team, including one the OS has not even run yet. Under one competing CPU-bound process
// on 2 cores a decode step's ~60 regions each waited out a time slice of the competitor
// (decode fell from ~30 to 2.8 tokens/s). Here the caller works too and is done when every
// unit is done: a worker that wakes late finds nothing left and goes back to sleep, so only a
// unit a preempted thread has already started can hold a step up.
//
// Policy: workers spin (with `pause`) for a short while after their last unit, since the next
// region of a step follows within microseconds, then sleep on a futex; the caller, waiting for
// a unit still running elsewhere, spins briefly and then yields its CPU.
#include <cstdint>

namespace xops {

// A borrowed callable: run(u) for one unit. Must not throw.
class UnitFn {
 public:
  template <class F>
  UnitFn(const F& f)  // NOLINT(google-explicit-constructor): a view, as std::function_ref
      : obj_(&f), call_([](const void* o, int u) { (*static_cast<const F*>(o))(u); }) {}
  void operator()(int u) const { call_(obj_, u); }

 private:
  const void* obj_;
  void (*call_)(const void*, int);
};

// Runs run(u) for every u in [0, units) on up to `threads` threads (the caller and pool
// workers) that take units in order, one at a time. Inline when one thread or one unit, when
// called from inside a unit, and when another thread is using the pool at that moment.
void for_each_unit(int units, int threads, UnitFn run);

// How long a worker spins for the next region before it sleeps, in microseconds, from the
// value of XOPS_SPIN_US (read when the pool starts): 0-1,000,000; unset, empty, not a whole
// number or out of range gives the default, 200.
int parse_spin_us(const char* value);

}  // namespace xops
