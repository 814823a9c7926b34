// A toy transport, added the way every transport is (one file, one line in the registry's list)
// to show that nothing else needs an edit: test_toy_registry and test/60.registries.test.js
// find it in `dtrain info`, `auto`'s candidates and the binding, and run jobs over it. Not
// shipped.
//
// toy-store: every message is a key in the rendezvous store, "<prefix>toy/<from>><to>/<n>" for
// the n-th message from one rank to another. Sends are SETs; receives are GETs, which wait for
// the key. Slow (each message crosses the launcher's store) but real: the schedules, the
// executor and the engine run over it unchanged.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "transport/registry.h"
#include "transport/store_client.h"

namespace dtrain {

namespace {

// How long one GET waits before the transport looks at the abort key and the deadline again.
constexpr double kPollSeconds = 0.1;
// A store request, once sent, is always read to its end, or the next reply would be read as its
// answer: the caller's deadline (the JS thread's is 200 us) bounds the waits for peers only.
constexpr double kStoreSeconds = 5;

class ToyStoreTransport final : public Transport {
 public:
  explicit ToyStoreTransport(const TransportSetup& s)
      : rank_(s.rendezvous.rank),
        size_(s.rendezvous.size),
        prefix_(s.rendezvous.prefix + "toy/"),
        store_(s.options.storeAddress, s.options.token, s.rendezvous.deadline),
        sent_(s.rendezvous.size, 0),
        received_(s.rendezvous.size, 0) {
    s.rendezvous.barrier("toy-ready");
  }

  const char* name() const override { return "toy-store"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void run(std::vector<Transfer>& transfers, const Deadline& deadline, AbortWatch* abort) override {
    // Sends never wait, so posting them all first cannot deadlock two ranks receiving.
    for (Transfer& t : transfers) {
      if (t.kind != Transfer::kSend || t.done == t.bytes) continue;
      store_.set(key(rank_, t.peer, sent_[t.peer]),
                 std::string(reinterpret_cast<const char*>(t.data), t.bytes),
                 Deadline::after(kStoreSeconds));
      ++sent_[t.peer];
      t.done = t.bytes;
    }
    for (Transfer& t : transfers) {
      if (t.kind != Transfer::kRecv || t.done == t.bytes) continue;
      const std::string value = receive(t, deadline, abort, transfers);
      if (value.size() != t.bytes) {
        throw Error(ErrorCode::kSystem, "toy-store: rank " + std::to_string(t.peer) + " sent " +
                                            std::to_string(value.size()) + " bytes, expected " +
                                            std::to_string(t.bytes));
      }
      const auto* bytes = reinterpret_cast<const uint8_t*>(value.data());
      if (t.sink)
        t.sink(bytes, 0, t.bytes);
      else if (t.bytes)
        std::memcpy(t.data, bytes, t.bytes);
      ++received_[t.peer];
      t.done = t.bytes;
    }
  }

 private:
  std::string key(int from, int to, uint64_t n) const {
    return prefix_ + std::to_string(from) + ">" + std::to_string(to) + "/" + std::to_string(n);
  }

  std::string receive(const Transfer& t, const Deadline& deadline, AbortWatch* abort,
                      const std::vector<Transfer>& transfers) {
    const std::string k = key(t.peer, rank_, received_[t.peer]);
    while (true) {
      if (abort) abort->throwIfAborted();
      const Deadline slice = Deadline::after(kPollSeconds);
      try {
        return store_.get(k, slice.at < deadline.at ? slice : deadline);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kTimeout) throw;
      }
      if (deadline.passed()) {
        std::vector<int> ranks;
        const std::string what = describePending(transfers, &ranks);
        throw Error(ErrorCode::kTimeout, "timed out waiting for " + what, ranks);
      }
    }
  }

  int rank_, size_;
  std::string prefix_;
  StoreClient store_;
  std::vector<uint64_t> sent_, received_;  // messages so far, by peer
};

std::unique_ptr<Transport> create(const TransportSetup& s) {
  return std::make_unique<ToyStoreTransport>(s);
}

}  // namespace

// Last in the list, so `auto` only picks it where nothing shipped can connect the ranks.
extern const TransportDef kToyStoreTransport = {
    "toy-store",
    "test only: every message goes through the rendezvous store",
    create,
    /*unavailable=*/nullptr,
    /*defaultCost=*/{2e-4, 1e-8, 1.2e-10},
    /*autoCandidate=*/true,
};

}  // namespace dtrain
