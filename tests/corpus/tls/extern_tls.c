/* A thread-local variable no JIT'd object defines (it would be the executor's or a
 * shared library's): refused with a hint. */
#include <stdio.h>
extern __thread int defined_nowhere;
int main(void) {
    printf("%d\n", defined_nowhere);
    return 0;
}
