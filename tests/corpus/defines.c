/* -I and -D reach the compiler */
#include <stdio.h>
#include "greeting.h"
#ifndef WHO
#error "WHO must be defined with -D"
#endif
int main(void) {
    printf("%s%s (level %d)\n", GREETING_PREFIX, WHO, LEVEL);
    return LEVEL;
}
