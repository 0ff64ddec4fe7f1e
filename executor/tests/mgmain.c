/* Mongoose test server for crossjit-executor interop tests.
 * argv: LISTEN_URL ROOT_DIR MAX_REQUESTS (0 = forever).
 * GET /api/hello -> fixed JSON; anything else is served from ROOT_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongoose.h"

static int requests, max_requests;
static const char *root;

static void handler(struct mg_connection *c, int ev, void *ev_data)
{
    if (ev != MG_EV_HTTP_MSG)
        return;
    struct mg_http_message *hm = (struct mg_http_message *)ev_data;
    requests++;
    if (mg_match(hm->uri, mg_str("/api/hello"), NULL)) {
        mg_http_reply(c, 200, "Content-Type: application/json\r\n",
                      "{\"hello\":\"crossjit\",\"n\":%d}\n", requests);
    } else {
        struct mg_http_serve_opts opts;
        memset(&opts, 0, sizeof opts);
        opts.root_dir = root;
        mg_http_serve_dir(c, hm, &opts);
    }
}

int main(int argc, char **argv)
{
    struct mg_mgr mgr;
    if (argc < 3)
        return 2;
    root = argv[1];
    max_requests = argc > 2 ? atoi(argv[2]) : 0;
    mg_log_set(MG_LL_NONE);
    mg_mgr_init(&mgr);
    if (mg_http_listen(&mgr, argv[0], handler, NULL) == NULL)
        return 3;
    printf("serving %s\n", argv[0]);
    fflush(stdout);
    while (max_requests == 0 || requests < max_requests)
        mg_mgr_poll(&mgr, 50);
    mg_mgr_poll(&mgr, 50);
    mg_mgr_free(&mgr);
    printf("served %d\n", requests);
    return 0;
}
