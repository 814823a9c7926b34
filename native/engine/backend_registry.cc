#include "common/error.h"
#include "engine/backend.h"

namespace dtrain {

#define DTRAIN_BACKEND(def) extern const BackendDef def;
#include "engine/backend_list.def"
#undef DTRAIN_BACKEND

const std::vector<const BackendDef*>& backends() {
  static const std::vector<const BackendDef*> all = {
#define DTRAIN_BACKEND(def) &def,
#include "engine/backend_list.def"
#undef DTRAIN_BACKEND
  };
  return all;
}

const BackendDef& backendFor(const Transport& transport) {
  for (const BackendDef* b : backends())
    if (b->accepts(transport)) return *b;
  throw Error(ErrorCode::kBootstrap, std::string("no backend runs collectives over the ") +
                                         transport.name() + " transport");
}

const BackendDef& backendNamed(const std::string& name) {
  for (const BackendDef* b : backends())
    if (name == b->name) return *b;
  throw Error(ErrorCode::kInvalidArgument, "no backend is called '" + name + "'");
}

}  // namespace dtrain
