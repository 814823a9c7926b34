// TCP transport: a full mesh of connections, one per pair of ranks, for ranks on different
// hosts (and on loopback). Every connection opens with the job token; the listener keeps
// refusing (and logging) strangers for as long as the communicator lives.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/rendezvous.h"
#include "transport/transport.h"

namespace dtrain {

class TcpTransport : public Transport {
 public:
  // bindHost: the address to listen on and publish ("127.0.0.1" unless DTRAIN_TCP_ADDR says).
  TcpTransport(const Rendezvous& rv, const std::string& token, const std::string& bindHost);
  ~TcpTransport() override;

  const char* name() const override { return "tcp"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool lateLengths() const override { return true; }
  void run(std::vector<Transfer>& transfers, const Deadline& deadline,
           AbortWatch* abort) override;

 private:
  void acceptLoop();
  void closeAll();  // stops the acceptor and closes every socket
  bool stepSend(Transfer& t, AbortWatch* abort);
  bool stepRecv(Transfer& t, AbortWatch* abort);

  int rank_, size_;
  std::string token_;
  int listenFd_ = -1;
  int wakeFd_ = -1;  // eventfd that stops the acceptor
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, int> accepted_;  // rank -> fd, handed over by the acceptor during setup
  bool setupDone_ = false;
  std::vector<int> fds_;  // by rank
};

}  // namespace dtrain
