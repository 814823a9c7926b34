#include "napi/errors.h"

#include "napi/instance.h"

namespace dtrain {

namespace {

Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message,
                      const std::vector<int>& rankList) {
  Napi::Error err;
  const Napi::FunctionReference& cls = instanceData(env).errorClass;
  if (code == ErrorCode::kInvalidArgument || code == ErrorCode::kConfig) {
    err = Napi::Error(env, Napi::RangeError::New(env, message).Value());
  } else if (!cls.IsEmpty()) {
    err = Napi::Error(env, cls.New({Napi::String::New(env, message)}));
  } else {
    err = Napi::Error::New(env, message);
  }
  err.Set("code", Napi::String::New(env, errorCodeName(code)));
  Napi::Array ranks = Napi::Array::New(env, rankList.size());
  for (size_t i = 0; i < rankList.size(); ++i) ranks.Set(i, Napi::Number::New(env, rankList[i]));
  err.Set("ranks", ranks);
  // The single rank an error is about (the lost peer, the one waited for), for convenience.
  if (!rankList.empty()) err.Set("rank", Napi::Number::New(env, rankList[0]));
  return err;
}

}  // namespace

Napi::Error toJsError(Napi::Env env, const Status& st) {
  return makeError(env, st.code, st.message, st.ranks);
}

Napi::Error toJsError(Napi::Env env, const std::exception& e) {
  if (const auto* de = dynamic_cast<const Error*>(&e)) {
    return makeError(env, de->code(), de->what(), de->ranks());
  }
  return makeError(env, ErrorCode::kSystem, e.what(), {});
}

Napi::Value setErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorClass: expected the DtrainError class");
  }
  instanceData(info.Env()).errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace dtrain
