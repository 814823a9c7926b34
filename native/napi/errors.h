// Turning core failures into JS errors that carry `code` and the ranks involved.
#pragma once

#include <napi.h>

#include "engine/communicator.h"

namespace dtrain {

Napi::Error toJsError(Napi::Env env, const Status& st);

}  // namespace dtrain
