/* sy_url.c — plain-http base URLs with numeric hosts (see sy_url.h). */
#include "core/sy_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int sy_hurl_parse(const char *url, sy_hurl *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "http://", 7) != 0) return -1;
    const char *h = url + 7, *hend, *p;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend) return -1;
        h++;
        p = hend + 1;
    } else {
        hend = h + strcspn(h, ":/");
        p = hend;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= sizeof out->host) return -1;
    memcpy(out->host, h, hl);
    if (strcmp(out->host, "localhost") == 0) strcpy(out->host, "127.0.0.1");
    out->port = 80;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) return -1;
        out->port = (int)port;
        p = end;
    }
    if (*p && *p != '/') return -1;
    if (strlen(p) >= sizeof out->path) return -1;
    strcpy(out->path, p);
    size_t pl = strlen(out->path);
    while (pl > 0 && out->path[pl - 1] == '/') out->path[--pl] = '\0';
    unsigned char tmp[16];
    int v6 = strchr(out->host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, out->host, tmp) != 1) return -1; /* names: curl */
    snprintf(out->hosthdr, sizeof out->hosthdr, v6 ? "[%s]:%d" : "%s:%d", out->host, out->port);
    return 0;
}

