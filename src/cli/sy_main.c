/* sy_main.c — the switchyard command: serve, check, route (uses switchyard.h only). */
#include <stdio.h>
#include "switchyard.h"
int main(void) { puts("switchyard (bootstrap)"); return 0; }
