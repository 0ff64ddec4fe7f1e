#include <stdio.h>
__attribute__((weak)) int overridable(void) { return 1; }   /* overridden in weak_strong.c */
__attribute__((weak)) int only_weak(void) { return 2; }
extern int missing_weak(void) __attribute__((weak));       /* never defined: address 0 */
extern int missing_weak_data __attribute__((weak));
int main(void) {
    printf("overridable=%d only_weak=%d\n", overridable(), only_weak());
    printf("missing_weak is %s, data is %s\n", missing_weak ? "set" : "NULL",
           &missing_weak_data ? "set" : "NULL");
    return overridable() + only_weak();
}
