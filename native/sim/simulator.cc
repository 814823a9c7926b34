#include "sim/simulator.h"

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <vector>

#include "common/error.h"

namespace dtrain {

namespace {

// A schedule reduced to what the model needs, 16 bytes a step, so 2,048 ranks of a ring
// (4,094 rounds each) fit in memory.
struct SimStep {
  uint64_t bytes;
  int32_t peer;
  StepKind kind;
};

struct RankState {
  std::vector<SimStep> steps;
  std::vector<uint32_t> roundEnd;  // index past each round's last step
  size_t round = 0;
  bool sendsPosted = false;
  double t = 0;        // when the current round may start
  double sendEnd = 0;  // latest end of this round's sends
};

}  // namespace

SimResult simulate(const std::function<Schedule(int)>& scheduleFor, int size, size_t elemSize,
                   const CostModel& m, const std::vector<int>& hostOf) {
  auto same = [&](int a, int b) { return !hostOf.empty() && hostOf[a] == hostOf[b]; };
  std::vector<RankState> ranks(size);
  SimResult res;
  for (int r = 0; r < size; ++r) {
    Schedule s = scheduleFor(r);
    RankState& st = ranks[r];
    size_t sent = 0;
    bool reduces = false;
    for (const Round& round : s.rounds) {
      for (const Step& step : round.steps) {
        if (step.kind == StepKind::kCopy) continue;
        const size_t n = (step.kind == StepKind::kSend || step.kind == StepKind::kReduce
                              ? step.src.count
                              : step.dst.count) *
                         elemSize;
        st.steps.push_back({n, step.peer, step.kind});
        if (step.kind == StepKind::kSend) sent += n;
        reduces |= step.kind == StepKind::kRecvReduce || step.kind == StepKind::kReduce;
      }
      st.roundEnd.push_back(static_cast<uint32_t>(st.steps.size()));
    }
    res.steps = std::max(res.steps, static_cast<int>(s.rounds.size()));
    res.maxBytesSentPerRank = std::max(res.maxBytesSentPerRank, sent);
    if (!reduces && size > 1 && !s.rounds.empty()) ++res.idleRanks;
  }

  // Posted send start times per ordered pair, consumed in order by the receiver.
  std::unordered_map<uint64_t, std::deque<double>> channels;
  auto key = [size](int from, int to) { return static_cast<uint64_t>(from) * size + to; };

  std::vector<std::pair<int, size_t>> need;  // receives per peer in the round being checked
  size_t done = 0;
  for (int r = 0; r < size; ++r)
    if (ranks[r].roundEnd.empty()) ++done;
  while (done < static_cast<size_t>(size)) {
    bool progressed = false;
    for (int r = 0; r < size; ++r) {
      RankState& st = ranks[r];
      while (st.round < st.roundEnd.size()) {
        const size_t begin = st.round ? st.roundEnd[st.round - 1] : 0, end = st.roundEnd[st.round];
        if (!st.sendsPosted) {
          double port = st.t;
          for (size_t i = begin; i < end; ++i) {
            const SimStep& s = st.steps[i];
            if (s.kind != StepKind::kSend) continue;
            channels[key(r, s.peer)].push_back(port);
            port += m.alphaFor(same(r, s.peer)) + s.bytes * m.betaFor(same(r, s.peer));
          }
          st.sendEnd = port;
          st.sendsPosted = true;
          progressed = true;
        }
        // Every receive of the round needs its matching send posted.
        bool ready = true;
        need.clear();
        for (size_t i = begin; i < end && ready; ++i) {
          const SimStep& s = st.steps[i];
          if (s.kind == StepKind::kSend || s.kind == StepKind::kReduce) continue;
          size_t k = 0;
          while (k < need.size() && need[k].first != s.peer) ++k;
          if (k == need.size()) need.push_back({s.peer, 0});
          auto it = channels.find(key(s.peer, r));
          if (it == channels.end() || it->second.size() <= need[k].second++) ready = false;
        }
        if (!ready) break;
        double port = st.t, finish = st.sendEnd, localReduce = 0;
        for (size_t i = begin; i < end; ++i) {
          const SimStep& s = st.steps[i];
          if (s.kind == StepKind::kSend) continue;
          if (s.kind == StepKind::kReduce) {
            localReduce += s.bytes * m.gamma;  // after the round's transfers
            continue;
          }
          auto& q = channels[key(s.peer, r)];
          const double sendStart = q.front();
          q.pop_front();
          port = std::max(port, sendStart) + m.alphaFor(same(r, s.peer)) +
                 s.bytes * m.betaFor(same(r, s.peer));
          double complete = port + (s.kind == StepKind::kRecvReduce ? s.bytes * m.gamma : 0.0);
          finish = std::max(finish, complete);
        }
        st.t = finish + localReduce;
        st.sendsPosted = false;
        ++st.round;
        progressed = true;
        if (st.round == st.roundEnd.size()) {
          ++done;
          res.predictedS = std::max(res.predictedS, st.t);
        }
      }
    }
    if (!progressed) {
      int stuck = 0;
      while (ranks[stuck].round == ranks[stuck].roundEnd.size()) ++stuck;
      throw Error(ErrorCode::kInvalidArgument,
                  "the schedules deadlock: rank " + std::to_string(stuck) + " waits in round " +
                      std::to_string(ranks[stuck].round) + " for a message never sent");
    }
  }
  return res;
}

}  // namespace dtrain
