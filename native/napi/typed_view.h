// A TypedArray's memory as a typed pointer and an element count, checked against the expected
// array type: the one way the kernel and model wraps read array arguments.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace dtrain {

template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};

// Throws a TypeError naming `name` unless `v` is a TypedArray of `type`.
template <typename T>
View<T> typedView(const Napi::Value& v, napi_typedarray_type type, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + " has the wrong array type");
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  View<T> out;
  out.data = reinterpret_cast<T*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  out.length = ta.ElementLength();
  return out;
}

}  // namespace dtrain
