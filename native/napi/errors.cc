#include "napi/errors.h"

namespace dtrain {

Napi::Error toJsError(Napi::Env env, const Status& st) {
  Napi::Error err = st.code == ErrorCode::kInvalidArgument
                        ? Napi::Error(env, Napi::RangeError::New(env, st.message).Value())
                        : Napi::Error::New(env, st.message);
  err.Set("code", Napi::String::New(env, errorCodeName(st.code)));
  Napi::Array ranks = Napi::Array::New(env, st.ranks.size());
  for (size_t i = 0; i < st.ranks.size(); ++i) ranks.Set(i, Napi::Number::New(env, st.ranks[i]));
  err.Set("ranks", ranks);
  // The single rank an error is about (the lost peer, the one waited for), for convenience.
  if (!st.ranks.empty()) err.Set("rank", Napi::Number::New(env, st.ranks[0]));
  return err;
}

}  // namespace dtrain
