/* embed.c — the policy engine without the gateway: open a config, ask for routing decisions and
 * handle errors, using only switchyard.h (built by CMakeLists.txt, checked by check_embed.sh).
 *
 * Usage: embed [CONFIG]      (default: examples/quickstart.lua, relative to the current dir)
 *
 * Every line it prints starts with a label, so a script (check_embed.sh) can assert on it:
 *   request <name>: SY_OK {decision JSON}
 *   request <name>: SY_ENOTFOUND (-5): <message>
 *   config <name>: SY_ECONFIG (-3)
 *   config <name>:   file:line: key: message
 * Exit status: 0 when every step behaved as documented, 1 otherwise. */
#include <switchyard.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ============================================================ error codes */

static const char *code_name(int rc)
{
    switch (rc) {
    case SY_OK:
        return "SY_OK";
    case SY_ENOMEM:
        return "SY_ENOMEM";
    case SY_EINVAL:
        return "SY_EINVAL";
    case SY_ECONFIG:
        return "SY_ECONFIG";
    case SY_EIO:
        return "SY_EIO";
    case SY_ENOTFOUND:
        return "SY_ENOTFOUND";
    case SY_EPOLICY:
        return "SY_EPOLICY";
    case SY_ESTATE:
        return "SY_ESTATE";
    default:
        return "SY_E?";
    }
}

/* Prints a multi-line message (the engine's "file:line: key: message" list), one line each,
 * under a label; the message is borrowed from the engine and not kept. */
static void print_lines(const char *label, const char *msg)
{
    const char *p = msg;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) printf("%s:   %.*s\n", label, (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* ============================================================ routing */

/* Routes one request and prints the outcome. Returns 0 when rc is the expected code. */
static int route_one(sy_engine *eng, const char *name, const char *route, const char *json,
                     int expect)
{
    const char *decision = NULL;
    int rc = sy_engine_route(eng, route, json, strlen(json), &decision);
    if (rc == SY_OK) {
        /* decision is borrowed: valid until the next call on eng; copy it to keep it */
        printf("request %s: SY_OK %s\n", name, decision);
    } else if (rc == SY_EPOLICY && decision) {
        /* the policy failed, but the route's default model was decided: still usable */
        printf("request %s: SY_EPOLICY (%d): %s\n", name, rc, sy_engine_errmsg(eng));
        printf("request %s: fallback %s\n", name, decision);
    } else {
        printf("request %s: %s (%d): %s\n", name, code_name(rc), rc, sy_engine_errmsg(eng));
    }
    if (rc != expect) {
        fprintf(stderr, "embed: request %s: got %s, expected %s\n", name, code_name(rc),
                code_name(expect));
        return 1;
    }
    return 0;
}

/* A prompt of about `size` bytes of prose, as the JSON of a chat request (caller frees). */
static char *long_request(size_t size)
{
    static const char sentence[] =
        "The quarterly report covers revenue, churn and support load across every region. ";
    size_t cap = size + 256, len = 0;
    char *json = malloc(cap);
    if (!json) return NULL;
    len += (size_t)snprintf(json, cap,
                            "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                            "\"content\":\"Summarise this document. ");
    while (len + sizeof sentence + 8 < size) {
        memcpy(json + len, sentence, sizeof sentence - 1);
        len += sizeof sentence - 1;
    }
    snprintf(json + len, cap - len, "\"}]}");
    return json;
}

/* ============================================================ a broken config */

/* Writes a config with three mistakes to a temp dir, opens it and prints the engine's
 * "file:line: key: message" list. Returns 0 when the open failed as it should. */
static int open_broken_config(void)
{
    static const char broken[] =
        "provider { id = \"sim\", kind = \"sim\" }\n"
        "model { id = \"small\", provider = \"sim\", contxt_window = 8192 }\n"
        "model { id = \"big\", provider = \"nowhere\" }\n"
        "route { name = \"auto\", policy = \"missing_policy.lua\", default = \"small\" }\n";
    char dir[] = "/tmp/sy-embed-XXXXXX";
    char path[64] = "";
    sy_engine *eng = NULL;
    FILE *f = NULL;
    int ret = 1, made = 0;

    if (!mkdtemp(dir)) {
        perror("embed: mkdtemp");
        goto fail;
    }
    made = 1;
    snprintf(path, sizeof path, "%s/broken.lua", dir);
    f = fopen(path, "w");
    if (!f) {
        perror("embed: writing the broken config");
        goto fail;
    }
    int written = fputs(broken, f) != EOF;
    int closed = fclose(f) == 0;
    f = NULL;
    if (!written || !closed) {
        perror("embed: writing the broken config");
        goto fail;
    }

    int rc = sy_engine_open(&eng, path);
    printf("config broken: %s (%d)\n", code_name(rc), rc);
    /* on failure the engine still exists (unless SY_ENOMEM) and holds the problems */
    if (rc != SY_OK && eng) print_lines("config broken", sy_engine_errmsg(eng));
    if (rc != SY_ECONFIG) {
        fprintf(stderr, "embed: broken config: got %s, expected SY_ECONFIG\n", code_name(rc));
        goto fail;
    }

    /* a failed engine refuses to route instead of crashing */
    const char *decision = NULL;
    static const char req[] =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    rc = sy_engine_route(eng, NULL, req, strlen(req), &decision);
    printf("config broken: route on it: %s (%d)\n", code_name(rc), rc);
    if (rc == SY_OK) goto fail;
    ret = 0;
fail:
    sy_engine_free(eng);
    if (f) fclose(f);
    if (path[0]) unlink(path);
    if (made) rmdir(dir);
    return ret;
}

/* A config path that does not exist. Returns 0 when the open failed. */
static int open_missing_config(void)
{
    sy_engine *eng = NULL;
    int rc = sy_engine_open(&eng, "/nonexistent/switchyard.lua");
    printf("config missing: %s (%d)\n", code_name(rc), rc);
    if (rc != SY_OK && eng) print_lines("config missing", sy_engine_errmsg(eng));
    sy_engine_free(eng);
    return rc == SY_OK;
}

/* ============================================================ main */

int main(int argc, char **argv)
{
    const char *config = argc > 1 ? argv[1] : "examples/quickstart.lua";
    sy_engine *eng = NULL;
    char *long_json = NULL;
    int failures = 0, ret = 1;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [CONFIG]\n", argv[0]);
        return 2;
    }
    if (sy_global_init() != SY_OK) {
        fprintf(stderr, "embed: sy_global_init failed\n");
        return 1;
    }
    printf("switchyard %s\n", sy_version());

    int rc = sy_engine_open(&eng, config);
    if (rc != SY_OK) {
        printf("config %s: %s (%d)\n", config, code_name(rc), rc);
        if (eng) print_lines("config", sy_engine_errmsg(eng));
        goto fail;
    }
    printf("config %s: SY_OK\n", config);

    failures += route_one(eng, "short", NULL,
                          "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"What is the capital of France?\"}]}",
                          SY_OK);
    failures += route_one(eng, "password_reset", NULL,
                          "{\"model\":\"auto\",\"metadata\":{\"task\":\"password_reset\"},"
                          "\"messages\":[{\"role\":\"user\",\"content\":\"I am locked out\"}]}",
                          SY_OK);
    long_json = long_request(48 * 1024);
    if (!long_json) goto fail;
    failures += route_one(eng, "long", NULL, long_json, SY_OK);
    /* a registry model by name: no policy runs */
    failures += route_one(eng, "direct", NULL,
                          "{\"model\":\"medium\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"Hello\"}]}",
                          SY_OK);
    /* the route argument overrides the request's "model" */
    failures += route_one(eng, "override", "auto",
                          "{\"model\":\"whatever\",\"metadata\":{\"task\":\"password_reset\"},"
                          "\"messages\":[{\"role\":\"user\",\"content\":\"reset my password\"}]}",
                          SY_OK);
    failures += route_one(eng, "unknown_model", NULL,
                          "{\"model\":\"gpt-17\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"Hi\"}]}",
                          SY_ENOTFOUND);
    failures += route_one(eng, "bad_json", NULL, "{\"model\":\"auto\",\"messages\":[", SY_EINVAL);
    failures += route_one(eng, "no_messages", NULL, "{\"model\":\"auto\"}", SY_EINVAL);

    failures += open_broken_config();
    failures += open_missing_config();

    printf("embed: %s (%d failure%s)\n", failures ? "FAILED" : "done", failures,
           failures == 1 ? "" : "s");
    ret = failures ? 1 : 0;
fail:
    free(long_json);
    sy_engine_free(eng);
    return ret;
}
