#include <stdarg.h>
#include <stdio.h>
static int sum(int n, ...) {
    va_list ap;
    va_start(ap, n);
    int s = 0;
    for (int i = 0; i < n; i++) s += va_arg(ap, int);
    va_end(ap);
    return s;
}
static double avg(int n, ...) {
    va_list ap;
    va_start(ap, n);
    double s = 0;
    for (int i = 0; i < n; i++) s += va_arg(ap, double);
    va_end(ap);
    return s / n;
}
static void logf_(const char *fmt, ...) {
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("[log] %s\n", buf);
}
int main(void) {
    printf("sum=%d\n", sum(5, 1, 2, 3, 4, 5));
    printf("avg=%.3f\n", avg(3, 1.0, 2.5, 4.0));
    logf_("%s has %d items costing %.2f", "cart", 3, 9.5);
    return sum(3, 10, 20, 12);
}
