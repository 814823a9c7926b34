#include "engine/executor.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace dtrain {

void piecesOf(const Buffers& b, const Chunk& c, size_t es, std::vector<Piece>* out) {
  out->clear();
  const bool segmented = b.segments && !b.segments->empty();
  if (!segmented || c.buffer == BufferId::kInput) {
    uint8_t* base = c.buffer == BufferId::kData    ? b.data
                    : c.buffer == BufferId::kInput ? const_cast<uint8_t*>(b.input)
                                                   : b.scratch;
    out->push_back({base + c.offset * es, c.count * es});
    return;
  }
  // Scratch shares kData's element space (a snapshot of it), and is cut where the arrays meet
  // too: a transport frames each transfer, so both ends of a message must cut it alike.
  size_t start = 0, lo = c.offset, hi = c.offset + c.count;
  for (const Segment& seg : *b.segments) {
    const size_t end = start + seg.count;
    const size_t a = lo > start ? lo : start, z = hi < end ? hi : end;
    if (a < z) {
      uint8_t* at = c.buffer == BufferId::kData ? seg.data + (a - start) * es : b.scratch + a * es;
      out->push_back({at, (z - a) * es});
    }
    if (end >= hi) break;
    start = end;
  }
}

namespace {
// Walks two piece lists of equal total length in step: f(dst, src, bytes) per overlap.
template <typename F>
void zipPieces(const std::vector<Piece>& dst, const std::vector<Piece>& src, F f) {
  size_t i = 0, j = 0, di = 0, sj = 0;
  while (i < dst.size() && j < src.size()) {
    const size_t n = std::min(dst[i].bytes - di, src[j].bytes - sj);
    f(dst[i].data + di, src[j].data + sj, n);
    di += n;
    sj += n;
    if (di == dst[i].bytes) ++i, di = 0;
    if (sj == src[j].bytes) ++j, sj = 0;
  }
}
}  // namespace

void Executor::run(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype, ReduceOp op,
                   const Deadline& deadline, AbortWatch* abort) {
  own_.round = 0;
  own_.inRound = false;
  resume(s, t, bufs, dtype, op, deadline, deadline, abort, &own_);
}

bool Executor::resume(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype,
                      ReduceOp op, const Deadline& deadline, const Deadline& soft,
                      AbortWatch* abort, ExecState* state) {
  const size_t es = dtypeSize(dtype);
  Buffers b = bufs;
  if (s.scratchElems) {
    // Only grows, so a resumed run finds its scratch where it left it.
    if (snapshot_.size() < s.scratchElems * es) snapshot_.resize(s.scratchElems * es);
    b.scratch = snapshot_.data();
  }
  const bool softer = soft.at < deadline.at;
  std::vector<Transfer>& transfers = state->transfers;
  for (; state->round < s.rounds.size(); ++state->round) {
    const Round& round = s.rounds[state->round];
    if (!state->inRound) {
      size_t staging = 0;
      for (const Step& st : round.steps) {
        if (st.kind == StepKind::kCopy) {
          piecesOf(b, st.dst, es, &dst_);
          piecesOf(b, st.src, es, &src_);
          zipPieces(dst_, src_, [](uint8_t* d, uint8_t* s, size_t n) { std::memmove(d, s, n); });
        } else if (st.kind == StepKind::kRecvReduce) {
          staging += st.dst.count * es;
        }
      }
      if (scratch_.size() < staging) scratch_.resize(staging);
      transfers.clear();
      size_t stagingOff = 0;
      for (const Step& st : round.steps) {
        switch (st.kind) {
          case StepKind::kCopy:
          case StepKind::kReduce:
            break;
          case StepKind::kSend:
            piecesOf(b, st.src, es, &src_);
            for (const Piece& p : src_)
              transfers.push_back({Transfer::kSend, st.peer, p.data, p.bytes, es, {}});
            break;
          case StepKind::kRecv:
            piecesOf(b, st.dst, es, &dst_);
            for (const Piece& p : dst_)
              transfers.push_back({Transfer::kRecv, st.peer, p.data, p.bytes, es, {}});
            break;
          case StepKind::kRecvReduce: {
            piecesOf(b, st.dst, es, &dst_);
            for (const Piece& p : dst_) {
              uint8_t* dst = p.data;
              const Reducer& red = reducer_;
              Sink sink = [&red, dst, dtype, op, es](const uint8_t* src, size_t offset, size_t n) {
                red.reduce(dtype, op, dst + offset, src, n / es);
              };
              transfers.push_back({Transfer::kRecv, st.peer, scratch_.data() + stagingOff, p.bytes,
                                   es, std::move(sink)});
              stagingOff += p.bytes;
            }
            break;
          }
        }
      }
      state->inRound = true;
    }
    if (!transfers.empty()) {
      try {
        t.run(transfers, softer ? soft : deadline, abort);
      } catch (const Error& e) {
        // Peers slower than the caller can wait for: the transfers keep their progress.
        if (e.code() == ErrorCode::kTimeout && softer && !deadline.passed()) return false;
        throw;
      }
      // Counted once the round's transfers are all done (a resumed round counts when it ends).
      uint64_t sent = 0;
      for (const Transfer& tr : transfers) sent += tr.kind == Transfer::kSend ? tr.bytes : 0;
      bytesSent_.fetch_add(sent, std::memory_order_relaxed);
    }
    for (const Step& st : round.steps) {
      if (st.kind == StepKind::kReduce) {
        piecesOf(b, st.dst, es, &dst_);
        piecesOf(b, st.src, es, &src_);
        zipPieces(dst_, src_, [&](uint8_t* d, uint8_t* s, size_t n) {
          reducer_.reduce(dtype, op, d, s, n / es);
        });
      }
    }
    state->inRound = false;
  }
  return true;
}

}  // namespace dtrain
