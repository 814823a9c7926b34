#include "transport/mem_transport.h"

#include <cstring>

#include "common/error.h"

namespace dtrain {

MemHub::MemHub(int size)
    : size_(size), arrived_(size), channels_(static_cast<size_t>(size) * size) {}

void MemTransport::run(std::vector<Transfer>& transfers, const Deadline& deadline, AbortWatch*) {
  std::unique_lock<std::mutex> lock(hub_->mu_);
  while (true) {
    bool pending = false, progressed = false;
    for (size_t i = 0; i < transfers.size(); ++i) {
      Transfer& t = transfers[i];
      if (t.done == t.bytes) continue;
      pending = true;
      if (!mayProgress(transfers, i)) continue;
      if (t.done == t.bytes) {  // a late length of 0
        progressed = true;
        continue;
      }
      if (t.kind == Transfer::kSend) {
        auto& ch = hub_->channel(rank_, t.peer);
        ch.bytes.insert(ch.bytes.end(), t.data, t.data + t.bytes);
        bytesSent_ += t.bytes;
        t.done = t.bytes;
        hub_->arrived_[t.peer].notify_one();
        progressed = true;
      } else {
        auto& ch = hub_->channel(t.peer, rank_);
        size_t avail = ch.bytes.size() - ch.readPos;
        size_t n = std::min(avail, t.bytes - t.done);
        n -= n % t.elemSize;
        if (n == 0) continue;
        const uint8_t* src = ch.bytes.data() + ch.readPos;
        if (t.sink) t.sink(src, t.done, n);
        else std::memcpy(t.data + t.done, src, n);
        t.done += n;
        ch.readPos += n;
        if (ch.readPos == ch.bytes.size()) {
          ch.bytes.clear();
          ch.readPos = 0;
        }
        progressed = true;
      }
    }
    if (!pending) return;
    if (progressed) continue;
    // Sends never wait (channels are unbounded), so only a receive can block here.
    if (hub_->arrived_[rank_].wait_until(lock, deadline.at) == std::cv_status::timeout) {
      std::vector<int> ranks;
      std::string what = describePending(transfers, &ranks);
      throw Error(ErrorCode::kTimeout, "timed out waiting for " + what, ranks);
    }
  }
}

}  // namespace dtrain
