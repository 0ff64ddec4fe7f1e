#include <stdio.h>
int main(void) {
    printf("no trailing newline");
    return 0;
}
