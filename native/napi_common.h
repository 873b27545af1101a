/* Small helpers shared by lancast's native modules (fanout.c, loadsink.c). */
#ifndef LANCAST_NAPI_COMMON_H
#define LANCAST_NAPI_COMMON_H
#include <node_api.h>
#include <stdint.h>

/* Name in error messages; a module may define it before including this. */
#ifndef NATIVE_NAME
#define NATIVE_NAME "lancast native"
#endif

/* For N-API calls that fail only on bad arguments: throw and return from the calling function. */
#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, NATIVE_NAME ": bad arguments");          \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

/* A JavaScript array of numbers from `n` doubles (counters and stats); NULL if N-API failed. */
static inline napi_value number_array(napi_env env, const double *values, uint32_t n) {
  napi_value array, value;
  if (napi_create_array_with_length(env, n, &array) != napi_ok) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    if (napi_create_double(env, values[i], &value) != napi_ok || napi_set_element(env, array, i, value) != napi_ok) return NULL;
  }
  return array;
}

/* A call's first argument; NULL (with an exception pending) if N-API could not read it. */
static inline napi_value first_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = { NULL };
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, NATIVE_NAME ": bad arguments");
    return NULL;
  }
  return argv[0];
}

#endif
