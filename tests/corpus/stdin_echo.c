#include <stdio.h>
int main(void) {
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, stdin)) printf("%d: %s", ++n, line);
    return n;
}
