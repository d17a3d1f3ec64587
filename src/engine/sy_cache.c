/* sy_cache.c — the response cache and the routing-decision cache (see sy_cache.h): one LRU
 * store implementation (a hash table over SHA-256 keys, one recency list per route
 * partition), the normalised-request key, and stored answers replayed as streams. */
#include "engine/sy_cache.h"
#include "core/sy_json.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* ============================================================ the LRU store */

typedef struct part part;
typedef struct ent {
    unsigned char key[SY_CACHE_KEY_LEN];
    struct ent *hnext;          /* bucket chain */
    struct ent *prev, *next;    /* its partition's recency list, most recent first */
    part *part;
    int64_t stored_ms;          /* monotonic */
    int64_t expires_ms;         /* monotonic, 0 = never */
    size_t size;                /* what it counts against the byte bound */
    size_t alen, blen;          /* the two values, stored one after the other in data */
    char data[];
} ent;

struct part {
    char name[128];             /* the route */
    ent *head, *tail;
    size_t bytes;
    long count;
    part *next;
};

typedef struct store {
    ent **buckets;
    size_t nbuckets;            /* a power of two */
    size_t count, bytes;
    part *parts;
} store;

static int64_t now_ms(void)
{
    return (int64_t)(sy_now_ns() / 1000000u);
}

static size_t bucket_of(const store *st, const unsigned char *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* a SHA-256 is uniform already */
    return (size_t)h & (st->nbuckets - 1);
}

static ent *store_find(const store *st, const unsigned char *key)
{
    if (!st->nbuckets) return NULL;
    for (ent *e = st->buckets[bucket_of(st, key)]; e; e = e->hnext)
        if (memcmp(e->key, key, SY_CACHE_KEY_LEN) == 0) return e;
    return NULL;
}

static void list_unlink(ent *e)
{
    part *p = e->part;
    if (e->prev) e->prev->next = e->next; else p->head = e->next;
    if (e->next) e->next->prev = e->prev; else p->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(part *p, ent *e)
{
    e->part = p;
    e->prev = NULL;
    e->next = p->head;
    if (p->head) p->head->prev = e;
    p->head = e;
    if (!p->tail) p->tail = e;
}

static void store_remove(store *st, ent *e)
{
    ent **pp = &st->buckets[bucket_of(st, e->key)];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    list_unlink(e);
    e->part->bytes -= e->size;
    e->part->count--;
    st->bytes -= e->size;
    st->count--;
    free(e);
}

static void store_clear(store *st)
{
    for (part *p = st->parts, *pn; p; p = pn) {
        pn = p->next;
        for (ent *e = p->head, *en; e; e = en) {
            en = e->next;
            free(e);
        }
        free(p);
    }
    free(st->buckets);
    memset(st, 0, sizeof *st);
}

static int store_grow(store *st)
{
    size_t n = st->nbuckets ? st->nbuckets * 2 : 64;
    ent **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < st->nbuckets; i++)
        for (ent *e = st->buckets[i], *en; e; e = en) {
            en = e->hnext;
            uint64_t h;
            memcpy(&h, e->key, sizeof h);
            size_t j = (size_t)h & (n - 1);
            e->hnext = b[j];
            b[j] = e;
        }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
    return 0;
}

static part *store_part(store *st, const char *name)
{
    for (part *p = st->parts; p; p = p->next)
        if (strcmp(p->name, name) == 0) return p;
    part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->next = st->parts;
    st->parts = p;
    return p;
}

/* The live entry of key, made the most recent; NULL (and *expired = 1 when it was there but
 * too old, and is now gone). */
static ent *store_get(store *st, const unsigned char *key, int64_t now, int *expired)
{
    ent *e = store_find(st, key);
    *expired = 0;
    if (!e) return NULL;
    if (e->expires_ms && now >= e->expires_ms) {
        store_remove(st, e);
        *expired = 1;
        return NULL;
    }
    part *p = e->part;
    list_unlink(e);
    list_push_front(p, e);
    return e;
}

/* Stores (a, b) under key in partition pname; entries beyond the bound (bytes when by_bytes,
 * else a count) leave from the partition's old end, counted in *evicted. 0, or -1 when it
 * cannot be stored. */
static int store_put(store *st, const char *pname, size_t bound, int by_bytes,
                     const unsigned char *key, int64_t ttl_ms, int64_t now, const void *a,
                     size_t alen, const void *b, size_t blen, long *evicted)
{
    size_t size = sizeof(ent) + alen + blen + 2;
    if (by_bytes ? size > bound : bound < 1) return -1;
    part *p = store_part(st, pname);
    if (!p) return -1;
    ent *old = store_find(st, key);
    if (old) store_remove(st, old);
    if (st->count + 1 > st->nbuckets && store_grow(st) != 0 && !st->nbuckets) return -1;
    ent *e = malloc(size);
    if (!e) return -1;
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, SY_CACHE_KEY_LEN);
    e->stored_ms = now;
    e->expires_ms = ttl_ms > 0 ? now + ttl_ms : 0;
    e->size = size;
    e->alen = alen;
    e->blen = blen;
    memcpy(e->data, a, alen);
    e->data[alen] = '\0';
    memcpy(e->data + alen + 1, b, blen);
    e->data[alen + 1 + blen] = '\0';
    while (p->tail && (by_bytes ? p->bytes + size > bound : (size_t)p->count + 1 > bound)) {
        store_remove(st, p->tail);
        (*evicted)++;
    }
    size_t j = bucket_of(st, key);
    e->hnext = st->buckets[j];
    st->buckets[j] = e;
    list_push_front(p, e);
    p->bytes += size;
    p->count++;
    st->bytes += size;
    st->count++;
    return 0;
}

/* ============================================================ the response cache */

struct sy_cache {
    pthread_mutex_t lock;        /* rs and gen; held for a lookup or a store, never longer */
    store rs;
    unsigned gen;                /* the newest generation seen: older ones are refused */
    _Atomic uint64_t hits, misses, bypass, stores, evictions, expired;
    _Atomic uint64_t bytes, entries;
    _Atomic uint64_t d_hits, d_misses, d_stores, d_evictions; /* every worker's decisions */
};

sy_cache *sy_cache_new(void)
{
    sy_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void sy_cache_free(sy_cache *c)
{
    if (!c) return;
    store_clear(&c->rs);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void publish_size(sy_cache *c)
{
    atomic_store_explicit(&c->bytes, c->rs.bytes, memory_order_relaxed);
    atomic_store_explicit(&c->entries, c->rs.count, memory_order_relaxed);
}

void sy_cache_flush(sy_cache *c, unsigned gen)
{
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    store_clear(&c->rs);
    if (gen > c->gen) c->gen = gen;
    publish_size(c);
    pthread_mutex_unlock(&c->lock);
}

/* A request of generation gen may use the store: it is the newest one (a newer one than seen
 * so far empties the store first). Under the lock. */
static int gen_ok(sy_cache *c, unsigned gen)
{
    if (gen < c->gen) return 0;
    if (gen > c->gen) {
        store_clear(&c->rs);
        c->gen = gen;
    }
    return 1;
}

int sy_cache_get(sy_cache *c, unsigned gen, const unsigned char key[SY_CACHE_KEY_LEN],
                 sy_cache_hit *out)
{
    memset(out, 0, sizeof *out);
    int hit = 0, expired = 0;
    pthread_mutex_lock(&c->lock);
    ent *e = gen_ok(c, gen) ? store_get(&c->rs, key, now_ms(), &expired) : NULL;
    if (e && (out->body = malloc(e->blen + 1))) {
        snprintf(out->model, sizeof out->model, "%s", e->data);
        memcpy(out->body, e->data + e->alen + 1, e->blen + 1);
        out->len = e->blen;
        out->age_ms = now_ms() - e->stored_ms;
        hit = 1;
    }
    publish_size(c);
    pthread_mutex_unlock(&c->lock);
    if (expired) atomic_fetch_add_explicit(&c->expired, 1, memory_order_relaxed);
    return hit;
}

int sy_cache_put(sy_cache *c, unsigned gen, const unsigned char key[SY_CACHE_KEY_LEN],
                 const char *route, size_t max_bytes, int64_t ttl_ms, const char *model,
                 const char *body, size_t len)
{
    long evicted = 0;
    int rc = -1;
    pthread_mutex_lock(&c->lock);
    if (gen_ok(c, gen))
        rc = store_put(&c->rs, route, max_bytes, 1, key, ttl_ms, now_ms(), model, strlen(model),
                       body, len, &evicted);
    publish_size(c);
    pthread_mutex_unlock(&c->lock);
    if (rc == 0) atomic_fetch_add_explicit(&c->stores, 1, memory_order_relaxed);
    if (evicted) atomic_fetch_add_explicit(&c->evictions, (uint64_t)evicted, memory_order_relaxed);
    return rc;
}

void sy_cache_count(sy_cache *c, int what)
{
    _Atomic uint64_t *n = what == SY_CACHE_HIT ? &c->hits : what == SY_CACHE_MISS ? &c->misses : &c->stores;
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

void sy_cache_redis_key(const unsigned char key[SY_CACHE_KEY_LEN], char out[SY_CACHE_RKEY_LEN])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sy:rc:", 6);
    for (int i = 0; i < SY_CACHE_KEY_LEN; i++) {
        out[6 + 2 * i] = hex[key[i] >> 4];
        out[7 + 2 * i] = hex[key[i] & 15];
    }
    out[6 + 2 * SY_CACHE_KEY_LEN] = '\0';
}

void sy_cache_encode(const char *model, const char *body, size_t len, int64_t wall_ms, sy_buf *out)
{
    sy_buf_printf(out, "sy1\n%lld\n%s\n", (long long)wall_ms, model);
    sy_buf_append(out, body, len);
}

int sy_cache_decode(const char *v, size_t n, int64_t now_wall_ms, sy_cache_hit *out)
{
    memset(out, 0, sizeof *out);
    const char *end = v + n, *p = v, *nl;
    if (n < 4 || memcmp(v, "sy1\n", 4) != 0) return -1;
    p += 4;
    if (!(nl = memchr(p, '\n', (size_t)(end - p)))) return -1;
    int64_t stored = strtoll(p, NULL, 10);
    p = nl + 1;
    if (!(nl = memchr(p, '\n', (size_t)(end - p))) || (size_t)(nl - p) >= sizeof out->model)
        return -1;
    memcpy(out->model, p, (size_t)(nl - p));
    out->model[nl - p] = '\0';
    p = nl + 1;
    out->len = (size_t)(end - p);
    if (!(out->body = malloc(out->len + 1))) return -1;
    memcpy(out->body, p, out->len);
    out->body[out->len] = '\0';
    out->age_ms = stored > 0 && now_wall_ms > stored ? now_wall_ms - stored : 0;
    return 0;
}

void sy_cache_count_bypass(sy_cache *c)
{
    atomic_fetch_add_explicit(&c->bypass, 1, memory_order_relaxed);
}

void sy_cache_metrics(sy_cache *c, sy_buf *b)
{
#define G(x) (unsigned long long)atomic_load_explicit(&c->x, memory_order_relaxed)
    sy_buf_printf(b,
                  "# HELP switchyard_cache_requests_total Requests on routes with a response cache, "
                  "by result.\n"
                  "# TYPE switchyard_cache_requests_total counter\n"
                  "switchyard_cache_requests_total{result=\"hit\"} %llu\n"
                  "switchyard_cache_requests_total{result=\"miss\"} %llu\n"
                  "switchyard_cache_requests_total{result=\"bypass\"} %llu\n"
                  "# HELP switchyard_cache_stores_total Answers stored in the response cache.\n"
                  "# TYPE switchyard_cache_stores_total counter\nswitchyard_cache_stores_total %llu\n"
                  "# HELP switchyard_cache_evictions_total Answers evicted to keep a route's "
                  "cache within its max_bytes.\n"
                  "# TYPE switchyard_cache_evictions_total counter\n"
                  "switchyard_cache_evictions_total %llu\n"
                  "# HELP switchyard_cache_expired_total Answers found past their ttl and dropped.\n"
                  "# TYPE switchyard_cache_expired_total counter\nswitchyard_cache_expired_total %llu\n"
                  "# HELP switchyard_cache_bytes Bytes held by the response cache.\n"
                  "# TYPE switchyard_cache_bytes gauge\nswitchyard_cache_bytes %llu\n"
                  "# HELP switchyard_cache_entries Answers held by the response cache.\n"
                  "# TYPE switchyard_cache_entries gauge\nswitchyard_cache_entries %llu\n"
                  "# HELP switchyard_decision_cache_requests_total Policy calls answered from "
                  "the routing-decision cache (hit) or not (miss), on routes that have one.\n"
                  "# TYPE switchyard_decision_cache_requests_total counter\n"
                  "switchyard_decision_cache_requests_total{result=\"hit\"} %llu\n"
                  "switchyard_decision_cache_requests_total{result=\"miss\"} %llu\n"
                  "# HELP switchyard_decision_cache_stores_total Decisions stored.\n"
                  "# TYPE switchyard_decision_cache_stores_total counter\n"
                  "switchyard_decision_cache_stores_total %llu\n"
                  "# HELP switchyard_decision_cache_evictions_total Decisions evicted (max).\n"
                  "# TYPE switchyard_decision_cache_evictions_total counter\n"
                  "switchyard_decision_cache_evictions_total %llu\n",
                  G(hits), G(misses), G(bypass), G(stores), G(evictions), G(expired), G(bytes),
                  G(entries), G(d_hits), G(d_misses), G(d_stores), G(d_evictions));
#undef G
}

/* ============================================================ the decision cache */

struct sy_dcache {
    store st;
    unsigned gen;
    sy_cache *counters;
};

sy_dcache *sy_dcache_new(sy_cache *counters)
{
    sy_dcache *d = calloc(1, sizeof *d);
    if (d) d->counters = counters;
    return d;
}

void sy_dcache_free(sy_dcache *d)
{
    if (!d) return;
    store_clear(&d->st);
    free(d);
}

/* SHA-256 of "route\0tenant\0key\0", in one call and without an allocation (this runs for
 * every request of a route with a decision cache). -1 when the three do not fit 1 KiB (such
 * a decision is simply not cached). */
static int dkey(const char *route, const char *tenant, const char *key, unsigned char *out)
{
    const char *parts[3] = {route, tenant ? tenant : "", key};
    unsigned char buf[1024];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(parts[i]) + 1;
        if (n + l > sizeof buf) return -1;
        memcpy(buf + n, parts[i], l);
        n += l;
    }
    SHA256(buf, n, out);
    return 0;
}

static void dgen(sy_dcache *d, unsigned gen)
{
    if (gen != d->gen) { /* a new snapshot: its models and policies are other ones */
        store_clear(&d->st);
        d->gen = gen;
    }
}

int sy_dcache_get(sy_dcache *d, unsigned gen, const char *route, const char *tenant,
                  const char *key, sy_decision *out)
{
    unsigned char k[SY_CACHE_KEY_LEN];
    int expired;
    dgen(d, gen);
    ent *e = dkey(route, tenant, key, k) == 0 ? store_get(&d->st, k, now_ms(), &expired) : NULL;
    if (e) memcpy(out, e->data + e->alen + 1, sizeof *out);
    if (d->counters)
        atomic_fetch_add_explicit(e ? &d->counters->d_hits : &d->counters->d_misses, 1,
                                  memory_order_relaxed);
    return e != NULL;
}

void sy_dcache_put(sy_dcache *d, unsigned gen, const char *route, const char *tenant,
                   const char *key, int max, int64_t ttl_ms, const sy_decision *dec)
{
    unsigned char k[SY_CACHE_KEY_LEN];
    long evicted = 0;
    dgen(d, gen);
    if (dkey(route, tenant, key, k) != 0) return;
    int rc = store_put(&d->st, route, (size_t)max, 0, k, ttl_ms, now_ms(), "", 0, dec,
                       sizeof *dec, &evicted);
    if (!d->counters) return;
    if (rc == 0) atomic_fetch_add_explicit(&d->counters->d_stores, 1, memory_order_relaxed);
    if (evicted)
        atomic_fetch_add_explicit(&d->counters->d_evictions, (uint64_t)evicted, memory_order_relaxed);
}

/* ============================================================ the request key */

/* Members of a request that do not change the answer: left out of the key. */
static const char *const IGNORED[] = {"model", "stream", "stream_options", "user", "metadata",
                                      "store", "service_tier", "prompt_cache_key",
                                      "safety_identifier", NULL};

static int ignored(const char *name)
{
    for (int i = 0; IGNORED[i]; i++)
        if (strcmp(IGNORED[i], name) == 0) return 1;
    return 0;
}

/* Every item is hashed as a tag byte, then a length or a count where it has one: no two
 * different values give the same byte sequence. */
static int h_tag(EVP_MD_CTX *x, char tag, uint64_t n)
{
    unsigned char hdr[9];
    hdr[0] = (unsigned char)tag;
    for (int i = 0; i < 8; i++) hdr[1 + i] = (unsigned char)(n >> (8 * i));
    return EVP_DigestUpdate(x, hdr, sizeof hdr);
}

static int h_bytes(EVP_MD_CTX *x, char tag, const char *s)
{
    size_t n = strlen(s);
    return h_tag(x, tag, n) && EVP_DigestUpdate(x, s, n);
}

static int cmp_items(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static int h_value(EVP_MD_CTX *x, const cJSON *v, int top)
{
    if (cJSON_IsNull(v)) return h_tag(x, 'n', 0);
    if (cJSON_IsTrue(v)) return h_tag(x, 't', 0);
    if (cJSON_IsFalse(v)) return h_tag(x, 'f', 0);
    if (cJSON_IsString(v)) return h_bytes(x, 's', v->valuestring);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble == 0 ? 0.0 : v->valuedouble; /* -0 is 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return h_tag(x, 'd', bits);
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), ok = h_tag(x, 'a', (uint64_t)n);
        const cJSON *it;
        cJSON_ArrayForEach(it, v) if (ok) ok = h_value(x, it, 0);
        return ok;
    }
    if (!cJSON_IsObject(v)) return 0;
    int n = 0, k = 0, ok;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) n++;
    const cJSON **items = malloc(((size_t)n + 1) * sizeof *items);
    if (!items) return 0;
    cJSON_ArrayForEach(it, v) if (!(top && it->string && ignored(it->string))) items[k++] = it;
    qsort(items, (size_t)k, sizeof *items, cmp_items);
    ok = h_tag(x, 'o', (uint64_t)k);
    for (int i = 0; ok && i < k; i++)
        ok = h_bytes(x, 'k', items[i]->string ? items[i]->string : "") && h_value(x, items[i], 0);
    free(items);
    return ok;
}

int sy_cache_request_key(const char *body, size_t len, const char *tenant, const char *route,
                         const sy_decision *dec, unsigned char key[SY_CACHE_KEY_LEN])
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    EVP_MD_CTX *x = root ? EVP_MD_CTX_new() : NULL;
    int ok = x && EVP_DigestInit_ex(x, EVP_sha256(), NULL) && h_bytes(x, 'V', "sy-rc-1") &&
             h_bytes(x, 'T', tenant ? tenant : "") && h_bytes(x, 'R', route) &&
             h_tag(x, 'K', dec ? (uint64_t)dec->kind : 0);
    for (int i = 0; ok && dec && i < dec->n; i++) {
        const sy_model *m = dec->models[i];
        ok = h_bytes(x, 'M', m->id) && h_bytes(x, 'U', m->upstream ? m->upstream : "") &&
             h_bytes(x, 'P', m->provider && m->provider->base_url ? m->provider->base_url : "");
    }
    ok = ok && h_value(x, root, 1);
    unsigned n = 0;
    ok = ok && EVP_DigestFinal_ex(x, key, &n) && n == SY_CACHE_KEY_LEN;
    EVP_MD_CTX_free(x);
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

/* ============================================================ streams */

#define PIECE 64 /* bytes of content per replayed chunk (cut at a UTF-8 character boundary) */

static cJSON *new_chunk(const cJSON *done, int index, cJSON *delta, const char *finish)
{
    cJSON *ch = cJSON_CreateObject(), *choices, *c;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(done, "id");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(done, "created");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(done, "model");
    cJSON_AddStringToObject(ch, "id", cJSON_IsString(id) ? id->valuestring : "chatcmpl-cached");
    cJSON_AddStringToObject(ch, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(ch, "created", cJSON_IsNumber(created) ? created->valuedouble : 0);
    cJSON_AddStringToObject(ch, "model", cJSON_IsString(model) ? model->valuestring : "");
    choices = cJSON_AddArrayToObject(ch, "choices");
    if (!delta) return ch;
    c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", index);
    cJSON_AddItemToObject(c, "delta", delta);
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    return ch;
}

cJSON *sy_cache_replay_chunks(const char *json, size_t len, int include_usage)
{
    cJSON *done = cJSON_ParseWithLength(json, len);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(done, "choices"), *choice;
    if (!cJSON_IsArray(choices)) {
        cJSON_Delete(done);
        return NULL;
    }
    cJSON *out = cJSON_CreateArray();
    int i = 0;
    cJSON_ArrayForEach(choice, choices)
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(choice, "index");
        int index = cJSON_IsNumber(ix) ? ix->valueint : i;
        i++;
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
        const cJSON *refusal = cJSON_GetObjectItemCaseSensitive(msg, "refusal");
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        cJSON_AddItemToArray(out, new_chunk(done, index, d, NULL));
        const char *s = cJSON_IsString(content) ? content->valuestring : "";
        size_t n = strlen(s);
        for (size_t at = 0; at < n;) {
            size_t take = n - at < PIECE ? n - at : PIECE;
            while (at + take < n && ((unsigned char)s[at + take] & 0xC0) == 0x80) take++;
            char *piece = malloc(take + 1);
            if (!piece) break;
            memcpy(piece, s + at, take);
            piece[take] = '\0';
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "content", piece);
            free(piece);
            cJSON_AddItemToArray(out, new_chunk(done, index, d, NULL));
            at += take;
        }
        if (cJSON_IsString(refusal)) {
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "refusal", refusal->valuestring);
            cJSON_AddItemToArray(out, new_chunk(done, index, d, NULL));
        }
        if (cJSON_GetArraySize(calls) > 0) {
            cJSON *tc = cJSON_Duplicate(calls, 1), *call;
            int k = 0;
            cJSON_ArrayForEach(call, tc) cJSON_AddNumberToObject(call, "index", k++);
            d = cJSON_CreateObject();
            cJSON_AddItemToObject(d, "tool_calls", tc);
            cJSON_AddItemToArray(out, new_chunk(done, index, d, NULL));
        }
        cJSON_AddItemToArray(out, new_chunk(done, index, cJSON_CreateObject(),
                                            cJSON_IsString(fr) ? fr->valuestring : "stop"));
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(done, "usage");
    if (include_usage && cJSON_IsObject(usage)) {
        cJSON *u = new_chunk(done, 0, NULL, NULL);
        cJSON_AddItemToObject(u, "usage", cJSON_Duplicate(usage, 1));
        cJSON_AddItemToArray(out, u);
    }
    cJSON_Delete(done);
    return out;
}

#define MAX_CHOICES 16

char *sy_cache_assemble(const cJSON *chunks, double prompt_in, double completion_out, size_t *len)
{
    cJSON *msgs[MAX_CHOICES] = {0}, *done = NULL;
    const char *finish[MAX_CHOICES] = {0};
    const cJSON *chunk, *first = cJSON_GetArrayItem(chunks, 0), *usage = NULL;
    char *out = NULL;
    int nchoices = 0;
    cJSON_ArrayForEach(chunk, chunks)
    {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
        if (cJSON_IsObject(u)) usage = u;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(chunk, "choices"))
        {
            const cJSON *ix = cJSON_GetObjectItemCaseSensitive(c, "index");
            int i = cJSON_IsNumber(ix) ? ix->valueint : 0;
            if (i < 0 || i >= MAX_CHOICES) goto fail; /* not stored rather than stored short */
            if (i >= nchoices) nchoices = i + 1;
            if (!msgs[i]) {
                msgs[i] = cJSON_CreateObject();
                cJSON_AddStringToObject(msgs[i], "role", "assistant");
            }
            const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
            if (cJSON_IsString(fr)) finish[i] = fr->valuestring;
            sy_cjson_fold_delta(msgs[i], cJSON_GetObjectItemCaseSensitive(c, "delta"));
        }
    }
    if (!first || !nchoices) goto fail;
    done = cJSON_CreateObject();
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(first, "id");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(first, "created");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(first, "model");
    cJSON_AddStringToObject(done, "id", cJSON_IsString(id) ? id->valuestring : "chatcmpl-cached");
    cJSON_AddStringToObject(done, "object", "chat.completion");
    cJSON_AddNumberToObject(done, "created", cJSON_IsNumber(created) ? created->valuedouble : 0);
    cJSON_AddStringToObject(done, "model", cJSON_IsString(model) ? model->valuestring : "");
    cJSON *choices = cJSON_AddArrayToObject(done, "choices");
    for (int i = 0; i < nchoices; i++) {
        if (!msgs[i]) continue;
        if (!cJSON_GetObjectItemCaseSensitive(msgs[i], "content"))
            cJSON_AddNullToObject(msgs[i], "content");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i);
        cJSON_AddItemToObject(c, "message", msgs[i]);
        msgs[i] = NULL;
        cJSON_AddStringToObject(c, "finish_reason", finish[i] ? finish[i] : "stop");
        cJSON_AddItemToArray(choices, c);
    }
    if (usage) {
        cJSON_AddItemToObject(done, "usage", cJSON_Duplicate(usage, 1));
    } else if (prompt_in > 0 || completion_out > 0) {
        cJSON *u = cJSON_AddObjectToObject(done, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", prompt_in);
        cJSON_AddNumberToObject(u, "completion_tokens", completion_out);
        cJSON_AddNumberToObject(u, "total_tokens", prompt_in + completion_out);
    }
    out = cJSON_PrintUnformatted(done);
    if (out) *len = strlen(out);
fail:
    for (int i = 0; i < MAX_CHOICES; i++) cJSON_Delete(msgs[i]);
    cJSON_Delete(done);
    return out;
}
