/* Stands in for crossjit/runtime/tls.c: what the TLS descriptor resolver calls. */
long __crossjit_tls_get_addr(long *ti) { return ti[1]; }
