// `binding.mpi`: the MPI plugin as JS sees it, for init() under mpirun (lib/comm/mpi.ts).
#include <napi.h>

#include "mpi/mpi_loader.h"
#include "napi/errors.h"

namespace dtrain {

namespace {

MpiPlugin& loadedOrThrow() {
  MpiPlugin* p = mpiPlugin();
  if (!p) throw Error(ErrorCode::kBootstrap, "the MPI plugin is not loaded; call load() first");
  return *p;
}

// load(path): dlopen the plugin (once).
Napi::Value load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "mpi.load: path must be a string");
  guarded(env, [&] { loadMpiPlugin(info[0].As<Napi::String>()); });
  return env.Undefined();
}

// init() -> { rank, size, localRank, localSize, version }: MPI_Init_thread (once).
Napi::Value init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MpiPlugin& p = guarded(env, [&]() -> MpiPlugin& {
    MpiPlugin& q = loadedOrThrow();
    mpiInit(q);
    return q;
  });
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", p.rank);
  o.Set("size", p.size);
  o.Set("localRank", p.localRank);
  o.Set("localSize", p.localSize);
  o.Set("version", p.version);
  return o;
}

// bcastBytes(u8, root): MPI_Bcast of the bytes in place (blocks: used once, at init()).
Napi::Value bcastBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "mpi.bcastBytes(u8, root)");
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  const int root = info[1].As<Napi::Number>().Int32Value();
  guarded(env, [&] {
    MpiPlugin& p = loadedOrThrow();
    char err[512] = {0};
    if (p.bcastBytes(a.Data(), a.ByteLength(), root, err, sizeof err) != 0) throw Error(ErrorCode::kBootstrap, err);
  });
  return env.Undefined();
}

// finalize(): MPI_Finalize, if MPI was initialized (at process exit).
Napi::Value finalize(const Napi::CallbackInfo& info) {
  MpiPlugin* p = mpiPlugin();
  if (p && p->initialized) p->finalize();
  return info.Env().Undefined();
}

}  // namespace

void registerMpi(Napi::Env env, Napi::Object exports) {
  Napi::Object m = Napi::Object::New(env);
  m.Set("load", Napi::Function::New(env, load));
  m.Set("init", Napi::Function::New(env, init));
  m.Set("bcastBytes", Napi::Function::New(env, bcastBytes));
  m.Set("finalize", Napi::Function::New(env, finalize));
  exports.Set("mpi", m);
}

}  // namespace dtrain
