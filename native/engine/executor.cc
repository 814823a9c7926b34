#include "engine/executor.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace dtrain {

namespace {
// Calls f(part, at, n, from) for each overlap of [lo, hi) with `parts` laid end to end (len(part)
// long each): `n` units starting `at` units into the part, `from` units into [lo, hi).
template <typename Part, typename Len, typename F>
void overlaps(const std::vector<Part>& parts, Len len, size_t lo, size_t hi, F f) {
  size_t start = 0;
  for (const Part& part : parts) {
    const size_t end = start + len(part);
    const size_t a = lo > start ? lo : start, z = hi < end ? hi : end;
    if (a < z) f(part, a - start, z - a, a - lo);
    if (end >= hi) break;
    start = end;
  }
}

bool segmented(const Buffers& b) { return b.segments && !b.segments->empty(); }
}  // namespace

void piecesOf(const Buffers& b, const Chunk& c, size_t es, std::vector<Piece>* out) {
  out->clear();
  if (c.buffer != BufferId::kData || !segmented(b)) {
    uint8_t* base = c.buffer == BufferId::kData    ? b.data
                    : c.buffer == BufferId::kInput ? const_cast<uint8_t*>(b.input)
                                                   : b.scratch;
    out->push_back({base + c.offset * es, c.count * es});
    return;
  }
  overlaps(*b.segments, [](const Segment& s) { return s.count; }, c.offset, c.offset + c.count,
           [&](const Segment& s, size_t at, size_t n, size_t) {
             out->push_back({s.data + at * es, n * es});
           });
  if (out->empty()) out->push_back({nullptr, 0});
}

namespace {
// Calls f(memory, from, n) for the pieces that bytes [offset, offset + n) of a message spread
// over: n bytes at `memory`, `from` bytes into what was delivered.
template <typename F>
void overPieces(const std::vector<Piece>& pieces, size_t offset, size_t n, F f) {
  overlaps(pieces, [](const Piece& p) { return p.bytes; }, offset, offset + n,
           [&](const Piece& p, size_t at, size_t len, size_t from) { f(p.data + at, from, len); });
}

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
      // A chunk that spans several arrays of a grouped all-reduce still travels as one message
      // (transports frame each transfer, and a peer may hold it in one array): sends of one
      // are gathered into staging, receives of one are spread from it by the sink.
      size_t staging = 0;
      for (const Step& st : round.steps) {
        if (st.kind == StepKind::kCopy) {
          piecesOf(b, st.dst, es, &dst_);
          piecesOf(b, st.src, es, &src_);
          zipPieces(dst_, src_, [](uint8_t* d, uint8_t* s, size_t n) { std::memmove(d, s, n); });
        } else if (st.kind == StepKind::kRecvReduce) {
          staging += st.dst.count * es;
        } else if (segmented(b) && (st.kind == StepKind::kSend || st.kind == StepKind::kRecv)) {
          const Chunk& c = st.kind == StepKind::kSend ? st.src : st.dst;
          piecesOf(b, c, es, &src_);
          if (src_.size() > 1) staging += c.count * es;
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
          case StepKind::kSend: {
            piecesOf(b, st.src, es, &src_);
            uint8_t* from = src_[0].data;
            if (src_.size() > 1) {
              from = scratch_.data() + stagingOff;
              for (const Piece& p : src_) {
                std::memcpy(scratch_.data() + stagingOff, p.data, p.bytes);
                stagingOff += p.bytes;
              }
            }
            transfers.push_back({Transfer::kSend, st.peer, from, st.src.count * es, es, {}});
            break;
          }
          case StepKind::kRecv: {
            piecesOf(b, st.dst, es, &dst_);
            if (dst_.size() == 1) {
              transfers.push_back({Transfer::kRecv, st.peer, dst_[0].data, st.dst.count * es, es, {}});
              break;
            }
            Sink sink = [pieces = dst_](const uint8_t* src, size_t offset, size_t n) {
              overPieces(pieces, offset, n, [src](uint8_t* d, size_t from, size_t len) {
                std::memcpy(d, src + from, len);
              });
            };
            transfers.push_back({Transfer::kRecv, st.peer, scratch_.data() + stagingOff,
                                 st.dst.count * es, es, std::move(sink)});
            stagingOff += st.dst.count * es;
            break;
          }
          case StepKind::kRecvReduce: {
            piecesOf(b, st.dst, es, &dst_);
            const Reducer& red = reducer_;
            Sink sink;
            if (dst_.size() == 1) {
              uint8_t* dst = dst_[0].data;
              sink = [&red, dst, dtype, op, es](const uint8_t* src, size_t offset, size_t n) {
                red.reduce(dtype, op, dst + offset, src, n / es);
              };
            } else {
              sink = [&red, pieces = dst_, dtype, op, es](const uint8_t* src, size_t offset, size_t n) {
                overPieces(pieces, offset, n, [&](uint8_t* d, size_t from, size_t len) {
                  red.reduce(dtype, op, d, src + from, len / es);
                });
              };
            }
            transfers.push_back({Transfer::kRecv, st.peer, scratch_.data() + stagingOff,
                                 st.dst.count * es, es, std::move(sink)});
            stagingOff += st.dst.count * es;
            break;
          }
        }
      }
      state->inRound = true;
      if (state->spans) state->roundStart = Clock::now();
    }
    uint64_t roundSent = 0;
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
      roundSent = sent;
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
    if (state->spans) state->spans->push_back({state->round, state->roundStart, Clock::now(), roundSent});
  }
  return true;
}

}  // namespace dtrain
