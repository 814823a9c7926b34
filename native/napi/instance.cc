#include "napi/instance.h"

namespace dtrain {

void initInstanceData(Napi::Env env) { env.SetInstanceData(new InstanceData()); }

InstanceData& instanceData(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

}  // namespace dtrain
