/* Never pulled in (nothing refers to it): its thread-local variable must not matter. */
__thread long never_used_tls = 1;
long never_called(void) { return never_used_tls; }
