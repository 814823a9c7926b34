// The transport of a communicator of one rank: every schedule is local, nothing moves.
#pragma once

#include "common/error.h"
#include "transport/transport.h"

namespace dtrain {

class SelfTransport : public Transport {
 public:
  const char* name() const override { return "self"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void run(std::vector<Transfer>& transfers, const Deadline&, AbortWatch*) override {
    for (const Transfer& t : transfers) {
      if (t.bytes) throw Error(ErrorCode::kSystem, "a one-rank communicator cannot send to a peer");
    }
  }
};

}  // namespace dtrain
