/* sy_main.c — the `switchyard` command: serve, check, route, tokens, validate, report, train,
 * classify, batch, version. Uses switchyard.h only (and the prototypes of sy_schema_cli and
 * sy_classify_cli); signal handling lives here, not in the library. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "switchyard.h"

int sy_schema_cli(int argc, char **argv); /* src/schema/sy_schema.h (keeps cJSON.h out) */
int sy_eval_cli(int argc, char **argv);   /* src/eval/sy_eval_cli.c: eval, replay */
int sy_classify_cli(int argc, char **argv); /* src/classify/sy_classify.h */
int sy_batch_cli(int argc, char **argv, volatile sig_atomic_t *signals); /* src/engine/sy_batch.c */

static sy_engine *g_serving; /* the engine a signal stops (CLI only, never the library) */
static volatile sig_atomic_t g_batch_signals[2]; /* batch: the last SIGINT/SIGTERM, how many */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: switchyard <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve --config FILE [--listen HOST:PORT] [--workers N]\n"
            "                        run the OpenAI-compatible gateway\n"
            "  check FILE            validate a config and every policy it names (like nginx -t)\n"
            "  route --config FILE [--route NAME] [--explain] [REQUEST.json|-]\n"
            "                        print the routing decision for a request, calling no upstream\n"
            "  validate [--draft 7|2020-12] [--format] SCHEMA.json [INSTANCE.json|-]\n"
            "                        check JSON against a JSON Schema (exit 0 valid, 1 invalid)\n"
            "  tokens [--encoding E] [--ids] [--chat] [FILE|-]\n"
            "                        count the tokens of a text (E: o200k_base (default),\n"
            "                        cl100k_base; --chat: a chat request, as OpenAI bills it;\n"
            "                        --ids: print the token ids)\n"
            "  eval --config FILE --route NAME --data FILE.jsonl [--sweep OPT=FROM:TO:STEP] ...\n"
            "                        measure a route's policy on a labelled data set, beside\n"
            "                        always-strongest, always-cheapest, random and the oracle\n"
            "  replay --config FILE --route NAME LOG.jsonl\n"
            "                        what a candidate policy would have done to logged traffic\n"
            "  batch (--config FILE | --url URL) [--concurrency N] [--priority P] [--key-env VAR]\n"
            "        IN.jsonl OUT.jsonl\n"
            "                        run an OpenAI Batch input file through the router at low\n"
            "                        priority into an OpenAI Batch output file; resumable\n"
            "                        (switchyard batch --help for every option)\n"
            "  report LOG.jsonl      summarise a routing-result log (server.request_log) per model\n"
            "  train --data FILE.jsonl --out MODEL.bin [--split train|test|all]\n"
            "        [--features default|words2] [--epochs N] [--seed N] [--bits N] [--quiet]\n"
            "                        train the prompt classifier on routing data (per-model scores)\n"
            "  classify --model MODEL.bin [--split train|test|all] [FILE.jsonl|-]\n"
            "                        print each prompt's per-model probabilities, one JSON line each\n"
            "  key-hash [-]          read an API key on stdin, print its SHA-256 for a config's\n"
            "                        key { sha256 = ... } (the key itself never goes in a file)\n"
            "  version               print the version\n");
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        sy_engine_reload_async(g_serving);
    else
        sy_engine_stop(g_serving);
}

/* Opens the engine or prints every problem ("file:line: key: message") and returns NULL. */
static sy_engine *open_or_report(const char *config)
{
    sy_engine *eng = NULL;
    int rc = sy_engine_open(&eng, config);
    if (rc == SY_OK) return eng;
    const char *msg = sy_engine_errmsg(eng);
    fputs(msg, stderr);
    if (msg[0] && msg[strlen(msg) - 1] != '\n') fputc('\n', stderr);
    fprintf(stderr, "switchyard: configuration %s has errors\n", config ? config : "(none)");
    sy_engine_free(eng);
    return NULL;
}

static const char *opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "switchyard: %s needs a value\n", argv[*i]);
        exit(2);
    }
    return argv[++*i];
}

static int cmd_serve(int argc, char **argv)
{
    const char *config = NULL;
    sy_serve_opts opts = {NULL, 0};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) {
            config = opt_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--listen") == 0) {
            opts.listen = opt_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--workers") == 0) {
            const char *v = opt_value(argc, argv, &i);
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "switchyard: --workers must be a number from 1 to 256\n");
                return 2;
            }
            opts.workers = (int)n;
        } else {
            fprintf(stderr, "switchyard: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "switchyard: serve needs --config FILE\n");
        return 2;
    }
    sy_engine *eng = open_or_report(config);
    if (!eng) return 1;
    g_serving = eng;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int rc = sy_engine_serve(eng, &opts);
    if (rc != SY_OK) fprintf(stderr, "switchyard: %s", sy_engine_errmsg(eng));
    g_serving = NULL;
    sy_engine_free(eng);
    return rc == SY_OK ? 0 : 1;
}

static void on_batch_signal(int sig)
{
    g_batch_signals[0] = sig;
    g_batch_signals[1]++;
}

/* batch stops sending on the first SIGINT/SIGTERM and cancels what is in flight on the second */
static int cmd_batch(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_batch_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return sy_batch_cli(argc - 1, argv + 1, g_batch_signals);
}

static int cmd_check(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0)
            config = opt_value(argc, argv, &i);
        else
            config = argv[i];
    }
    if (!config) {
        fprintf(stderr, "switchyard: check needs a config file\n");
        return 2;
    }
    sy_engine *eng = open_or_report(config);
    if (!eng) return 1;
    printf("switchyard: configuration %s is ok\n", config);
    sy_engine_free(eng);
    return 0;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
        }
    }
    *len = n;
    return buf;
}

static int cmd_route(int argc, char **argv)
{
    const char *config = NULL, *route = NULL, *input = "-";
    int explain = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0)
            config = opt_value(argc, argv, &i);
        else if (strcmp(argv[i], "--route") == 0)
            route = opt_value(argc, argv, &i);
        else if (strcmp(argv[i], "--explain") == 0)
            explain = 1;
        else
            input = argv[i];
    }
    if (!config) {
        fprintf(stderr, "switchyard: route needs --config FILE\n");
        return 2;
    }
    FILE *f = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (!f) {
        fprintf(stderr, "switchyard: cannot open %s\n", input);
        return 2;
    }
    size_t len = 0;
    char *req = read_all(f, &len);
    if (f != stdin) fclose(f);
    sy_engine *eng = open_or_report(config);
    if (!eng || !req) {
        free(req);
        sy_engine_free(eng);
        return 1;
    }
    const char *decision = NULL;
    int rc = explain ? sy_engine_explain(eng, route, req, len, &decision)
                     : sy_engine_route(eng, route, req, len, &decision);
    if (decision) puts(decision);
    if (rc != SY_OK) fprintf(stderr, "switchyard: %s\n", sy_engine_errmsg(eng));
    free(req);
    sy_engine_free(eng);
    return decision ? 0 : 1;
}

/* key-hash: the SHA-256 of the key on stdin (one line; the newline is not part of it). */
static int cmd_key_hash(int argc, char **argv)
{
    if (argc > 3 || (argc == 3 && strcmp(argv[2], "-") != 0)) {
        fprintf(stderr, "usage: switchyard key-hash < KEYFILE   (or: printf %%s \"$KEY\" | switchyard key-hash)\n");
        return 2;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    if (n == sizeof buf - 1) {
        fprintf(stderr, "switchyard key-hash: the key is longer than %zu bytes\n", sizeof buf - 2);
        return 2;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    if (n == 0 || memchr(buf, '\n', n)) {
        fprintf(stderr, "switchyard key-hash: expected one key on stdin (one line)\n");
        return 2;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)buf, n, md);
    memset(buf, 0, sizeof buf);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) printf("%02x", md[i]);
    printf("\n");
    return 0;
}

static int cmd_tokens(int argc, char **argv)
{
    const char *enc = "o200k_base", *input = "-";
    int ids = 0, chat = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--encoding") == 0 || strcmp(argv[i], "-e") == 0)
            enc = opt_value(argc, argv, &i);
        else if (strcmp(argv[i], "--ids") == 0)
            ids = 1;
        else if (strcmp(argv[i], "--chat") == 0)
            chat = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "switchyard: tokens: unknown option %s\n", argv[i]);
            return 2;
        } else
            input = argv[i];
    }
    if (ids && chat) {
        fprintf(stderr, "switchyard: tokens: --ids and --chat do not go together\n");
        return 2;
    }
    FILE *f = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (!f) {
        fprintf(stderr, "switchyard: tokens: cannot open %s: %s\n", input, strerror(errno));
        return 2;
    }
    size_t len = 0;
    char *text = read_all(f, &len);
    if (f != stdin) fclose(f);
    if (!text) {
        fprintf(stderr, "switchyard: tokens: out of memory reading %s\n", input);
        return 1;
    }
    char err[1024];
    int rc;
    if (chat) {
        long n = 0;
        rc = sy_tokens_count_chat(enc, text, len, &n, err, sizeof err);
        if (rc == SY_OK) printf("%ld%s\n", n, strcmp(enc, "estimate") == 0 ? " (estimate)" : "");
    } else if (ids) {
        uint32_t *v = NULL;
        size_t n = 0;
        rc = sy_tokens_encode_text(enc, text, len, &v, &n, err, sizeof err);
        for (size_t i = 0; rc == SY_OK && i < n; i++) printf(i ? " %u" : "%u", v[i]);
        if (rc == SY_OK) putchar('\n');
        free(v);
    } else {
        size_t n = 0;
        rc = sy_tokens_count_text(enc, text, len, &n, err, sizeof err);
        if (rc == SY_OK) printf("%zu\n", n);
    }
    free(text);
    if (rc != SY_OK) {
        fprintf(stderr, "switchyard: tokens: %s%s%s\n", chat && strcmp(input, "-") ? input : "",
                chat && strcmp(input, "-") ? ": " : "", err);
        return rc == SY_EINVAL ? 2 : 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (sy_global_init() != SY_OK) {
        fprintf(stderr, "switchyard: libcurl failed to initialise\n");
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc, argv);
    if (strcmp(cmd, "check") == 0) return cmd_check(argc, argv);
    if (strcmp(cmd, "route") == 0) return cmd_route(argc, argv);
    if (strcmp(cmd, "validate") == 0) return sy_schema_cli(argc - 1, argv + 1);
    if (strcmp(cmd, "tokens") == 0) return cmd_tokens(argc, argv);
    if (strcmp(cmd, "key-hash") == 0) return cmd_key_hash(argc, argv);
    if (strcmp(cmd, "eval") == 0 || strcmp(cmd, "replay") == 0)
        return sy_eval_cli(argc - 1, argv + 1);
    if (strcmp(cmd, "train") == 0 || strcmp(cmd, "classify") == 0)
        return sy_classify_cli(argc - 1, argv + 1);
    if (strcmp(cmd, "batch") == 0) return cmd_batch(argc, argv);
    if (strcmp(cmd, "report") == 0) {
        if (argc != 3) {
            fprintf(stderr, "switchyard: report needs one routing-result log (LOG.jsonl)\n");
            return 2;
        }
        char err[600];
        int rc = sy_report(argv[2], stdout, err, sizeof err);
        if (rc != SY_OK) fprintf(stderr, "switchyard: report: %s\n", err);
        return rc == SY_OK ? 0 : rc == SY_EIO ? 2 : 1;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("switchyard %s\n", sy_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "switchyard: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
