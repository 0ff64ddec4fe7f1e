/* Uses one archive member, which needs a second one: both are pulled in, nothing else. */
#include <stdio.h>

int used_function(int x);

int main(void) {
    printf("used_function(20) = %d\n", used_function(20));
    return used_function(1) == 3 ? 0 : 1;
}
