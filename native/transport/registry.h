// The transport registry: every transport is one TransportDef, defined beside its class and
// listed once in transport/transport_list.def. The engine creates transports from it, `auto`
// picks from it, and the binding exports it (names, summaries, default cost models), which is
// where the TypeScript layer and the CLI get the names.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/cost_model.h"
#include "transport/rendezvous.h"
#include "transport/transport.h"

namespace dtrain {

// What transports may be configured with (lib/comm/config.ts reads it from the environment).
struct TransportOptions {
  std::string jobId;         // names shared-memory segments
  std::string token;         // every peer connection presents it
  std::string storeAddress;  // the rendezvous store, host:port
  std::string tcpAddr = "127.0.0.1";
  size_t shmChannelBytes = 1 << 20;
  int shmSpin = -1;  // polls before a waiting rank yields; -1 adapts
  // Ranks of the whole job on this host, when this transport serves a group of them: they share
  // the cores, so polling long pays only if they all have one. 0: just this transport's ranks.
  int hostRanks = 0;
};

// A transport is created collectively, by every rank at once, once the ranks' host names are
// known (gathered once, at bootstrap).
struct TransportSetup {
  const Rendezvous& rendezvous;
  const TransportOptions& options;
  const std::vector<std::string>& hosts;  // by rank
};

struct TransportDef {
  const char* name;
  const char* summary;
  std::unique_ptr<Transport> (*create)(const TransportSetup& setup);
  // Empty when this transport can connect ranks on these hosts; else why not, as a sentence
  // for errors and for `auto`'s log line. Null: always.
  std::string (*unavailable)(const std::vector<std::string>& hosts);
  CostModel defaultCost;  // before calibration (`dtrain bench allreduce --calibrate`)
  bool autoCandidate;     // `auto` may pick it
};

// Every registered transport, in the order `auto` tries them.
const std::vector<const TransportDef*>& transports();
// The transport named `name`, or null.
const TransportDef* findTransport(const std::string& name);
// "auto" then the registered names, for errors and `dtrain info`.
std::vector<std::string> transportNames();

// What a job's configured transport resolves to: the named one, or for "auto" the first
// candidate available for `hosts`. Throws Error(kBootstrap) naming the fix when the named one
// cannot connect these hosts, Error(kInvalidArgument) for an unknown name.
struct TransportChoice {
  const TransportDef* def;
  std::string why;  // for auto: why this one ("every rank is on host x")
};
TransportChoice chooseTransport(const std::string& name, const std::vector<std::string>& hosts);

}  // namespace dtrain
