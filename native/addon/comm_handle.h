// The NativeComm class (comm.cpp) as other bindings see it: a model attached to a communicator
// (model.cpp) reads its clsa_comm and keeps it from being disposed while it is in use.
#pragma once
#include <napi.h>

#include "clsa/clsa.h"

namespace clsa_addon {

void InitComm(Napi::Env env, Napi::Object exports);

// The live clsa_comm behind `v` (a NativeComm); throws a TypeError naming `name` otherwise.
clsa_comm* CommOf(Napi::Env env, Napi::Value v, const char* name);
// Counts the models attached to the NativeComm `v`: dispose() refuses while any is.
void CommUsers(Napi::Value v, int delta);

}  // namespace clsa_addon
