// A TypedArray's memory as a typed pointer and an element count, checked against the expected
// array type: the one way the kernel and model wraps read array arguments.
//
// The pointer comes from napi_get_typedarray_info, which gives it for arrays over an ArrayBuffer
// and over a SharedArrayBuffer alike; Napi::TypedArray::ArrayBuffer().Data() goes through
// napi_get_arraybuffer_info, which refuses a SharedArrayBuffer ("Invalid argument").
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

// The first byte of a TypedArray's elements (its byte offset applied), whatever buffer backs it.
inline uint8_t* typedArrayBytes(const Napi::TypedArray& ta) {
  void* data = nullptr;
  napi_status st = napi_get_typedarray_info(ta.Env(), ta, nullptr, nullptr, &data, nullptr, nullptr);
  NAPI_THROW_IF_FAILED(ta.Env(), st, nullptr);
  return static_cast<uint8_t*>(data);
}

// Throws a TypeError naming `name` unless `v` is a TypedArray of `type`.
template <typename T>
View<T> typedView(const Napi::Value& v, napi_typedarray_type type, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + " has the wrong array type");
  }
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  View<T> out;
  out.data = reinterpret_cast<T*>(typedArrayBytes(ta));
  out.length = ta.ElementLength();
  return out;
}

}  // namespace dtrain
