/* Several translation units: colliding static names, cross references both ways. */
#include <stdio.h>
static int helper(void) { return 1; }   /* also defined static in a.c and b.c */
static const char *tag = "main";
extern int a_value(void);
extern int b_value(void);
extern int shared_counter;
extern const char *a_tag(void);
int main_callback(int x) { return x * 100 + helper(); }
int main(void) {
    printf("%s %s a=%d b=%d\n", tag, a_tag(), a_value(), b_value());
    printf("shared=%d helper=%d\n", shared_counter, helper());
    return a_value() + b_value();
}
