// crossjit's Mongoose example: a small HTTP server.
//
//   main [LISTEN_URL [ROOT_DIR [MAX_SECONDS [TLS_DIR]]]]
//     LISTEN_URL   default http://127.0.0.1:8000; https://... needs a TLS build (below)
//     ROOT_DIR     directory to serve (listing + static files), default "."
//     MAX_SECONDS  stop after this many seconds (0 = run until killed), default 0
//     TLS_DIR      for https://: holds cert.pem and key.pem (PEM), default "."
//
// One source for both servers: built with -DMG_TLS=MG_TLS_MBED (profiles/mongoose-tls.yaml)
// Mongoose uses mbedtls and an https:// LISTEN_URL serves TLS; without it (the default,
// MG_TLS_NONE) only http:// is accepted.
//
//   GET /api/hello  -> {"message":"hello from crossjit","requests":N}
//   GET /api/stop   -> stops the server (used by tests and benchmarks)
//   GET /...        -> files and directory listings from ROOT_DIR
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mongoose.h"

static const char *s_root = ".";
static unsigned long s_requests;
static int s_stop;
static int s_https;
static struct mg_str s_cert, s_key;  // PEM, read once at start-up

static void handle(struct mg_connection *c, int ev, void *ev_data) {
  if (ev == MG_EV_ACCEPT && s_https) {
    // Each accepted connection starts its own TLS session with our certificate.
    struct mg_tls_opts opts = {.cert = s_cert, .key = s_key};
    mg_tls_init(c, &opts);
    return;
  }
  if (ev != MG_EV_HTTP_MSG) return;
  struct mg_http_message *hm = (struct mg_http_message *) ev_data;
  s_requests++;
  if (mg_match(hm->uri, mg_str("/api/hello"), NULL)) {
    mg_http_reply(c, 200, "Content-Type: application/json\r\n",
                  "{%m:%m,%m:%lu}\n", MG_ESC("message"), MG_ESC("hello from crossjit"),
                  MG_ESC("requests"), s_requests);
  } else if (mg_match(hm->uri, mg_str("/api/stop"), NULL)) {
    mg_http_reply(c, 200, "Content-Type: application/json\r\n", "{%m:true}\n",
                  MG_ESC("stopping"));
    s_stop = 1;
  } else {
    struct mg_http_serve_opts opts = {.root_dir = s_root};
    mg_http_serve_dir(c, hm, &opts);
  }
  // Request log: method, URI and status, one line each.
  printf("%.*s %.*s\n", (int) hm->method.len, hm->method.buf, (int) hm->uri.len,
         hm->uri.buf);
  fflush(stdout);
}

int main(int argc, char *argv[]) {
  const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:8000";
  s_root = argc > 2 ? argv[2] : ".";
  long max_seconds = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
  // The root is opened by *this* process: in a container it must exist there (mounted)
  // and be readable by the container's user. Mongoose would otherwise answer GET / with
  // an empty listing and every file with "Not found", so fail loudly instead.
  DIR *dir = opendir(s_root);
  if (dir == NULL) {
    fprintf(stderr, "cannot serve %s: %s\n", s_root, strerror(errno));
    return 1;
  }
  closedir(dir);
  s_https = strncmp(url, "https://", 8) == 0;
  if (s_https) {
#if defined(MG_TLS) && MG_TLS != MG_TLS_NONE
    const char *tls_dir = argc > 4 ? argv[4] : ".";
    char cert[512], key[512];
    snprintf(cert, sizeof(cert), "%s/cert.pem", tls_dir);
    snprintf(key, sizeof(key), "%s/key.pem", tls_dir);
    s_cert = mg_file_read(&mg_fs_posix, cert);
    s_key = mg_file_read(&mg_fs_posix, key);
    if (s_cert.len == 0 || s_key.len == 0) {
      fprintf(stderr, "cannot read %s: %s\n", s_cert.len == 0 ? cert : key, strerror(errno));
      return 1;
    }
#else
    fprintf(stderr, "%s: this build has no TLS (build with -DMG_TLS=MG_TLS_MBED)\n", url);
    return 1;
#endif
  }
  struct mg_mgr mgr;
  mg_log_set(MG_LL_ERROR);
  mg_mgr_init(&mgr);
  if (mg_http_listen(&mgr, url, handle, NULL) == NULL) {
    fprintf(stderr, "cannot listen on %s\n", url);
    mg_mgr_free(&mgr);
    return 1;
  }
  printf("serving %s on %s\n", s_root, url);
  fflush(stdout);
  time_t start = time(NULL);
  while (!s_stop && (max_seconds == 0 || time(NULL) - start < max_seconds)) {
    mg_mgr_poll(&mgr, 100);
  }
  mg_mgr_poll(&mgr, 50);  // flush the reply to /api/stop
  mg_mgr_free(&mgr);
  mg_free((void *) s_cert.buf);
  mg_free((void *) s_key.buf);
  printf("served %lu requests\n", s_requests);
  return 0;
}
