/* The initial-exec model needs a fixed offset from the thread pointer, which JIT'd TLS
 * does not have: crossjit refuses it with a hint. */
#include <stdio.h>
__attribute__((tls_model("initial-exec"))) __thread int counter = 1;
int main(void) {
    printf("%d\n", counter);
    return 0;
}
