// Builds the registry from the list. A build may name another list (DTRAIN_TRANSPORT_LIST): the
// registry tests add a toy transport that way, with one file and one line.
#include "transport/registry.h"

#include "common/error.h"

#ifndef DTRAIN_TRANSPORT_LIST
#define DTRAIN_TRANSPORT_LIST "transport/transport_list.def"
#endif

namespace dtrain {

#define DTRAIN_TRANSPORT(def) extern const TransportDef def;
#include DTRAIN_TRANSPORT_LIST
#undef DTRAIN_TRANSPORT

const std::vector<const TransportDef*>& transports() {
  static const std::vector<const TransportDef*> all = {
#define DTRAIN_TRANSPORT(def) &def,
#include DTRAIN_TRANSPORT_LIST
#undef DTRAIN_TRANSPORT
  };
  return all;
}

const TransportDef* findTransport(const std::string& name) {
  for (const TransportDef* t : transports())
    if (name == t->name) return t;
  return nullptr;
}

std::vector<std::string> transportNames() {
  std::vector<std::string> names = {"auto"};
  for (const TransportDef* t : transports()) names.push_back(t->name);
  return names;
}

namespace {
std::string whyNot(const TransportDef* t, const std::vector<std::string>& hosts) {
  return t->unavailable ? t->unavailable(hosts) : std::string();
}

std::string hostSummary(const std::vector<std::string>& hosts) {
  for (const std::string& h : hosts)
    if (h != hosts[0]) return "the ranks are on more than one host";
  return "every rank is on host '" + hosts[0] + "'";
}
}  // namespace

TransportChoice chooseTransport(const std::string& name, const std::vector<std::string>& hosts) {
  std::vector<std::string> usable;
  for (const TransportDef* t : transports())
    if (whyNot(t, hosts).empty()) usable.push_back(t->name);
  if (name == "auto") {
    for (const TransportDef* t : transports()) {
      if (t->autoCandidate && whyNot(t, hosts).empty()) return {t, hostSummary(hosts)};
    }
    throw Error(ErrorCode::kBootstrap,
                "transport auto: no registered transport can connect "
                "these ranks (" +
                    hostSummary(hosts) + ")");
  }
  const TransportDef* t = findTransport(name);
  if (!t) {
    std::string known;
    for (const std::string& n : transportNames()) known += (known.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::kInvalidArgument, "unknown transport '" + name + "'; use " + known);
  }
  const std::string why = whyNot(t, hosts);
  if (!why.empty()) {
    std::string fix = usable.empty() ? "" : "; set DTRAIN_TRANSPORT=" + usable[0];
    throw Error(ErrorCode::kBootstrap, why + fix);
  }
  return {t, ""};
}

}  // namespace dtrain
