/* initialised and zero data, a large bss, string/constant tables, pointers in data */
#include <stdio.h>
#include <string.h>
static int counter = 41;
int zeroed[1024];
static char big_bss[16 << 20];
static const char *const names[] = {"alpha", "beta", "gamma", "delta"};
static const double constants[] = {3.25, -1.5, 1e10};
struct node { const char *label; struct node *next; int *value; };
static int v1 = 7, v2 = 9;
static struct node n2 = {"second", 0, &v2};
static struct node n1 = {"first", &n2, &v1};
struct node *head = &n1;
int main(void) {
    counter++;
    for (int i = 0; i < 1024; i++) if (zeroed[i]) return 1;
    memset(big_bss + (8 << 20), 'x', 4096);
    big_bss[(16 << 20) - 1] = 'z';
    printf("counter=%d bss=%c%c\n", counter, big_bss[8 << 20], big_bss[(16 << 20) - 1]);
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        printf("%u %s %zu\n", i, names[i], strlen(names[i]));
    for (unsigned i = 0; i < 3; i++) printf("%g\n", constants[i]);
    for (struct node *n = head; n; n = n->next) printf("%s=%d\n", n->label, *n->value);
    return 0;
}
