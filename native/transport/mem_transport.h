// In-process transport: ranks are threads of one process sharing a MemHub. Lets tests run
// every schedule for 1 to 64 ranks without starting processes.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "transport/transport.h"

namespace dtrain {

class MemHub {
 public:
  explicit MemHub(int size);
  int size() const { return size_; }

 private:
  friend class MemTransport;
  struct Channel {
    std::vector<uint8_t> bytes;
    size_t readPos = 0;
  };
  Channel& channel(int from, int to) { return channels_[from * size_ + to]; }
  int size_;
  std::mutex mu_;
  std::vector<std::condition_variable> arrived_;  // per receiving rank: data was sent to it
  std::vector<Channel> channels_;
};

class MemTransport : public Transport {
 public:
  MemTransport(std::shared_ptr<MemHub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {}
  const char* name() const override { return "mem"; }
  int rank() const override { return rank_; }
  int size() const override { return hub_->size(); }
  bool lateLengths() const override { return true; }
  void run(std::vector<Transfer>& transfers, const Deadline& deadline, AbortWatch*) override;

  size_t bytesSent() const { return bytesSent_; }

 private:
  std::shared_ptr<MemHub> hub_;
  int rank_;
  size_t bytesSent_ = 0;
};

}  // namespace dtrain
