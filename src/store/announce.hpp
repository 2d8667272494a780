// announce(): how every Store backend hands its committed changes to the
// ChangeListener (store.hpp), once, in one place.
//
// Thread-safety: as the listener (called on the committing thread).
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <vector>

#include "tokend/store/store.hpp"

namespace tokend::store {

// Tells the listener in `slot` (if any) of `changes` (if any). Call after the
// COMMIT holding them returned, before the write's caller hears back.
inline void announce(const std::atomic<ChangeListener*>& slot, const std::vector<Change>& changes) {
  if (changes.empty()) return;
  ChangeListener* l = slot.load(std::memory_order_acquire);
  if (!l) return;
  // The write is committed whatever the listener does: a throw must not turn
  // it into a reported failure (nor end the group committer's thread).
  try {
    l->on_committed(changes);
  } catch (const std::exception& e) {
    spdlog::error("a change listener threw: {}", e.what());
  } catch (...) {
    spdlog::error("a change listener threw a non-standard exception");
  }
}

}  // namespace tokend::store
