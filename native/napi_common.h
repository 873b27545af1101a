/* Small helpers shared by lancast's native modules (fanout.c, loadsink.c). */
#ifndef LANCAST_NAPI_COMMON_H
#define LANCAST_NAPI_COMMON_H
#include <node_api.h>
#include <stdint.h>

/* A JavaScript array of numbers from `n` doubles (counters and stats); NULL if N-API failed. */
static inline napi_value number_array(napi_env env, const double *values, uint32_t n) {
  napi_value array, value;
  if (napi_create_array_with_length(env, n, &array) != napi_ok) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    if (napi_create_double(env, values[i], &value) != napi_ok || napi_set_element(env, array, i, value) != napi_ok) return NULL;
  }
  return array;
}

#endif
