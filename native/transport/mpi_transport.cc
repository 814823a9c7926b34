// Transport `mpi`: dtrain's own schedules over MPI_Isend/MPI_Irecv (through the MPI plugin), for
// clusters whose MPI drives a fabric dtrain's sockets cannot. A communicator's ranks are mapped
// to MPI_COMM_WORLD's (exchanged at bootstrap, so groups work too), and its messages carry a tag
// of its own, so several communicators share the world without mixing. MPI keeps messages
// between a pair in order for one tag, which is the ordering the Transport interface promises.
// A lost peer is not reported by MPI in time: the deadline and the job-wide abort key are.
#include <climits>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/error.h"
#include "mpi/mpi_loader.h"
#include "transport/registry.h"
#include "transport/store_client.h"

namespace dtrain {

namespace {

// Pieces of at most 1 GiB: MPI counts are ints.
constexpr size_t kPiece = size_t{1} << 30;

class MpiTransport final : public Transport {
 public:
  explicit MpiTransport(const TransportSetup& s) : rank_(s.rendezvous.rank), size_(s.rendezvous.size) {
    p_ = mpiPlugin();
    if (!p_ || !p_->initialized) {
      throw Error(ErrorCode::kBootstrap, "transport 'mpi' needs a job started by mpirun (this process has not initialized MPI)");
    }
    const std::vector<std::string> world = s.rendezvous.allGather("mpirank", std::to_string(p_->rank));
    for (const std::string& w : world) worldRank_.push_back(std::stoi(w));
    // A tag per communicator (its rendezvous prefix), within MPI's guaranteed 32767.
    uint32_t h = 2166136261u;
    for (char c : s.rendezvous.prefix) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    tag_ = static_cast<int>(h % 32000u) + 1;
  }

  const char* name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  ~MpiTransport() override { abandon(); }

  // Requests stay posted when a soft deadline passes (the engine resumes the same transfers
  // later); only abandon(), on a failure, cancels them.
  void run(std::vector<Transfer>& transfers, const Deadline& deadline, AbortWatch* abort) override {
    char err[512] = {0};
    // Posted in list order, so transfers to one peer in one direction arrive in order.
    for (Transfer& t : transfers) {
      if (t.done == t.bytes || inflight_.count(&t)) continue;
      Posted& posted = inflight_[&t];
      uint8_t* buf = t.data;
      if (t.kind == Transfer::kRecv && t.sink && !buf) {
        posted.staging.resize(t.bytes);
        buf = posted.staging.data();
      }
      for (size_t at = t.done; at < t.bytes; at += kPiece) {
        const int n = static_cast<int>(t.bytes - at < kPiece ? t.bytes - at : kPiece);
        void* req = nullptr;
        const int rc = t.kind == Transfer::kSend ? p_->isend(buf + at, n, worldRank_[t.peer], tag_, &req, err, sizeof err)
                                                 : p_->irecv(buf + at, n, worldRank_[t.peer], tag_, &req, err, sizeof err);
        if (rc != 0) throw Error(ErrorCode::kPeerLost, std::string(err) + " (rank " + std::to_string(t.peer) + ")", {t.peer});
        posted.pieces.push_back({req, static_cast<size_t>(n)});
      }
    }
    Backoff backoff;
    for (;;) {
      bool open = false, progressed = false;
      for (Transfer& t : transfers) {
        auto it = inflight_.find(&t);
        if (it == inflight_.end()) continue;
        Posted& posted = it->second;
        size_t left = 0;
        for (PieceReq& q : posted.pieces) {
          if (!q.req) continue;
          int done = 0;
          if (p_->test(q.req, &done, err, sizeof err) != 0) {
            throw Error(ErrorCode::kPeerLost, std::string(err) + " (rank " + std::to_string(t.peer) + ")", {t.peer});
          }
          if (done) {
            q.req = nullptr;
            t.done += q.bytes;
            progressed = true;
          } else {
            ++left;
          }
        }
        if (left > 0) {
          open = true;
          continue;
        }
        // The whole message at once: MPI hands over nothing before a piece completes.
        if (t.kind == Transfer::kRecv && t.sink) t.sink(t.data ? t.data : posted.staging.data(), 0, t.bytes);
        inflight_.erase(it);
      }
      if (!open) return;
      if (progressed) {
        backoff.reset();
        continue;
      }
      if (abort) abort->throwIfAborted();
      if (deadline.passed()) {
        std::vector<int> ranks;
        const std::string what = describePending(transfers, &ranks);
        throw Error(ErrorCode::kTimeout, "timed out waiting for " + what, ranks);
      }
      if (!backoff.next()) {
        // MPI progresses inside MPI_Test: sleep briefly rather than spin on a shared core.
        struct timespec ts = {0, 20000};
        nanosleep(&ts, nullptr);
      }
    }
  }

  void abandon() override {
    for (auto& [t, posted] : inflight_)
      for (PieceReq& q : posted.pieces)
        if (q.req) p_->cancel(q.req);
    inflight_.clear();
  }

 private:
  const MpiPlugin* p_ = nullptr;
  int rank_, size_;
  std::vector<int> worldRank_;
  int tag_ = 1;
  struct PieceReq {
    void* req;  // null once complete
    size_t bytes;
  };
  struct Posted {
    std::vector<PieceReq> pieces;
    std::vector<uint8_t> staging;  // for a sink without a staging area of its own
  };
  std::map<const Transfer*, Posted> inflight_;
};

std::unique_ptr<Transport> createMpi(const TransportSetup& s) { return std::make_unique<MpiTransport>(s); }

std::string unavailable(const std::vector<std::string>&) {
  const MpiPlugin* p = mpiPlugin();
  return p && p->initialized ? "" : "transport 'mpi' runs only in jobs started by mpirun";
}

}  // namespace

extern const TransportDef kMpiTransport = {
    "mpi",
    "dtrain's schedules over MPI_Isend/MPI_Irecv, in jobs started by mpirun",
    createMpi,
    unavailable,
    /*defaultCost=*/{1e-5, 2e-10, 1.2e-10},
    /*autoCandidate=*/false,
};

}  // namespace dtrain
