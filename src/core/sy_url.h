/* sy_url.h — parsing of plain-http base URLs with a numeric host, the ones sy_hclient can
 * serve without DNS or TLS. Implemented in sy_url.c; depends on nothing. */
#ifndef SY_URL_H
#define SY_URL_H

/* A parsed http:// base URL with a numeric host. */
typedef struct sy_hurl {
    char host[64];   /* numeric IPv4/IPv6 */
    int port;
    char path[256];  /* prefix, no trailing slash ("/v1") */
    char hosthdr[80];
} sy_hurl;

/* Parses url if this client can serve it (http://, numeric host or "localhost"). 0 or -1. */
int sy_hurl_parse(const char *url, sy_hurl *out);

#endif
