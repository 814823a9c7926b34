#include "engine/zero_copy.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "engine/reducer.h"
#include "sched/schedule.h"

namespace dtrain {

namespace {
// Local work is done in pieces of this many bytes, with the soft deadline looked at between
// them: the JS thread's inline attempt hands a long call over instead of holding the event loop.
constexpr size_t kPieceBytes = 1 << 20;
}  // namespace

ZeroCopy::ZeroCopy(Transport& transport, AbortWatch* abort, const std::vector<pid_t>& pids,
                   int rank, int size, const Reducer& reducer, bool noMaps)
    : transport_(transport),
      abort_(abort),
      pids_(pids),
      rank_(rank),
      size_(size),
      reducer_(reducer),
      noMaps_(noMaps),
      peers_(size - 1) {}

bool ZeroCopy::applies(const std::vector<CollectiveDesc>& all) {
  for (const CollectiveDesc& d : all) {
    if (d.region == 0 || !(d.flags & CollectiveDesc::kAutoAlgorithm)) return false;
  }
  const CollectiveDesc& d = all[0];
  const DType t = static_cast<DType>(d.dtype);
  // Half-precision averages divide every input before the sum (sched/plan.cc): the schedules
  // do that; this path reads the inputs where their owners keep them.
  const bool halfAvg = static_cast<ReduceOp>(d.op) == ReduceOp::kAvg &&
                       (t == DType::kFloat16 || t == DType::kBFloat16);
  return d.kind == static_cast<uint8_t>(OpKind::kAllreduce) && d.parts == 0 && !halfAvg;
}

bool ZeroCopy::round(ZeroCopyState& s, const Deadline& hard, const Deadline& soft) {
  if (s.transfers.empty()) {
    s.theirs.assign(size_, 0);
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      s.transfers.push_back({Transfer::kSend, r, reinterpret_cast<uint8_t*>(&s.mine), 8, 8, {}});
      s.transfers.push_back({Transfer::kRecv, r, reinterpret_cast<uint8_t*>(&s.theirs[r]), 8, 8, {}});
    }
  }
  try {
    transport_.run(s.transfers, soft.at < hard.at ? soft : hard, abort_);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kTimeout && soft.at < hard.at && !hard.passed()) return false;
    throw;
  }
  s.transfers.clear();
  return true;
}

ZeroCopy::Result ZeroCopy::run(const OpRequest& op, const std::vector<CollectiveDesc>& all,
                               ZeroCopyState& s, const Deadline& hard, const Deadline& soft,
                               std::string* why) {
  const size_t es = dtypeSize(op.dtype);
  const size_t bytes = op.count * es;
  uint8_t* mine = static_cast<uint8_t*>(op.data);
  const std::vector<Chunk> parts = splitEven(op.count, size_);
  const size_t piece = std::max<size_t>(1, kPieceBytes / es);
  auto softPassed = [&] { return soft.at < hard.at && soft.passed(); };
  for (;;) {
    switch (s.phase) {
      case 0: {  // map every peer's buffer, and say whether that worked
        s.peers.assign(size_, nullptr);
        bool ok = !noMaps_;
        if (noMaps_) *why = "DTRAIN_TEST_NO_PEER_MAPS is set";
        for (int r = 0; r < size_ && ok; ++r) {
          if (r == rank_) continue;
          const SharedRef ref{all[r].region, all[r].regionFd,
                              static_cast<uint64_t>(all[r].regionOffset) * es};
          s.peers[r] = peers_.map(r, pids_[r], ref, bytes, why);
          ok = s.peers[r] != nullptr;
        }
        s.mine = ok ? 1 : 0;
        s.phase = 1;
        break;
      }
      case 1: {
        if (!round(s, hard, soft)) return Result::kPending;
        bool all = s.mine == 1;
        for (int r = 0; r < size_; ++r) all = all && (r == rank_ || s.theirs[r] == 1);
        if (!all) return Result::kFallBack;
        s.phase = 2;
        s.done = 0;
        break;
      }
      case 2: {  // reduce this rank's part from every buffer, in rank order
        const Chunk& c = parts[rank_];
        while (s.done < c.count) {
          const size_t n = std::min(piece, c.count - s.done);
          uint8_t* dst = mine + (c.offset + s.done) * es;
          for (int r = 0; r < size_; ++r) {
            if (r == rank_) continue;
            reducer_.reduce(op.dtype, op.op, dst, s.peers[r] + (c.offset + s.done) * es, n);
          }
          if (op.op == ReduceOp::kAvg) reducer_.scale(op.dtype, dst, n, size_);
          s.done += n;
          if (s.done < c.count && softPassed()) return Result::kPending;
        }
        s.mine = 2;
        s.phase = 3;
        break;
      }
      case 3: {
        if (!round(s, hard, soft)) return Result::kPending;
        s.phase = 4;
        s.done = 0;
        break;
      }
      case 4: {  // copy the others' reduced parts out of their buffers
        // s.done counts elements over the other ranks' parts taken in rank order.
        size_t at = 0;
        for (int r = 0; r < size_; ++r) {
          if (r == rank_) continue;
          const Chunk& c = parts[r];
          while (s.done < at + c.count) {
            const size_t from = s.done - at;
            const size_t n = std::min(piece, c.count - from);
            std::memcpy(mine + (c.offset + from) * es, s.peers[r] + (c.offset + from) * es, n * es);
            s.done += n;
            if (softPassed()) return Result::kPending;
          }
          at += c.count;
        }
        s.mine = 3;
        s.phase = 5;
        break;
      }
      case 5: {
        if (!round(s, hard, soft)) return Result::kPending;
        s.phase = 6;
        return Result::kDone;
      }
      default:
        return Result::kDone;
    }
  }
}

}  // namespace dtrain
