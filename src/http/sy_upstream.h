/* sy_upstream.h — outbound HTTP for one worker: a libcurl multi handle driven by the
 * worker's libevent loop (CURLMOPT_SOCKETFUNCTION + CURLMOPT_TIMERFUNCTION). Used by the
 * provider adapters; knows nothing of providers or Lua. Single-threaded, no locks. */
#ifndef SY_UPSTREAM_H
#define SY_UPSTREAM_H

#include <curl/curl.h>

struct event_base;
typedef struct sy_upstream sy_upstream;

/* Called once when a transfer ends (after curl_multi_remove_handle); the easy handle is
 * still the caller's to clean up. */
typedef void (*sy_upstream_done_cb)(CURL *easy, CURLcode rc, void *ud);

int sy_upstream_new(sy_upstream **out, struct event_base *base);
/* Transfers still running are removed without their done callback. */
void sy_upstream_free(sy_upstream *up);
/* Starts a configured easy handle. CURLOPT_PRIVATE is used by sy_upstream: do not set it. */
int sy_upstream_add(sy_upstream *up, CURL *easy, sy_upstream_done_cb done, void *ud);
/* Cancels a transfer: its connection is closed, no done callback runs. */
void sy_upstream_cancel(sy_upstream *up, CURL *easy);
/* An easy handle from the worker's pool (reset to defaults), or a new one. Reusing handles
 * saves curl's per-handle setup on every request. NULL on out of memory. */
CURL *sy_upstream_easy(sy_upstream *up);
/* Returns a handle that is not in a transfer to the pool (or frees it when the pool is
 * full). NULL is a no-op. */
void sy_upstream_release(sy_upstream *up, CURL *easy);

#endif
