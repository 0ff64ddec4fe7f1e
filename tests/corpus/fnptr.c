#include <stdio.h>
static int add(int a, int b) { return a + b; }
static int sub(int a, int b) { return a - b; }
static int mul(int a, int b) { return a * b; }
int divi(int a, int b) { return b ? a / b : 0; }
struct op { const char *name; int (*fn)(int, int); };
static const struct op ops[] = {{"add", add}, {"sub", sub}, {"mul", mul}, {"div", divi}};
int (*volatile indirect)(int, int) = mul;
int main(void) {
    int acc = 0;
    for (unsigned i = 0; i < 4; i++) {
        int r = ops[i].fn(12, 4);
        printf("%s(12,4)=%d\n", ops[i].name, r);
        acc += r;
    }
    printf("indirect=%d\n", indirect(6, 7));
    return acc & 0xff;
}
