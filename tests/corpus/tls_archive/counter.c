/* An archive member with thread-local storage, pulled in only because main.c calls
 * bump(): crossjit must then link its TLS runtime although no input object has TLS. */
__thread int tls_counter = 40;
static __thread int calls;

int bump(int by) {
    calls++;
    return (tls_counter += by) * 10 + calls;
}
