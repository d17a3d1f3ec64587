/* sy_version.c — library version and curl's one-time global init (the one allowed global). */
#include "core/sy_core.h"

#include <curl/curl.h>
#include <pthread.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc = SY_OK;

static void global_init_once(void)
{
    g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? SY_OK : SY_ENOMEM;
}

int sy_global_init(void)
{
    pthread_once(&g_once, global_init_once);
    return g_init_rc;
}

const char *sy_version(void)
{
    return SY_VERSION;
}
