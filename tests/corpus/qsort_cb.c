/* libc calls back into JIT'd code */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int calls;
static int cmp(const void *a, const void *b) {
    calls++;
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int main(void) {
    const char *words[] = {"pear", "apple", "fig", "kiwi", "banana", "cherry"};
    qsort(words, 6, sizeof *words, cmp);
    for (int i = 0; i < 6; i++) printf("%s%s", words[i], i < 5 ? " " : "\n");
    int nums[] = {5, -3, 9, 0, 2};
    qsort(nums, 5, sizeof *nums, cmp_int);
    int key = 9;
    int *hit = bsearch(&key, nums, 5, sizeof *nums, cmp_int);
    printf("min=%d found=%d called=%s\n", nums[0], hit ? *hit : -1, calls > 0 ? "yes" : "no");
    return 0;
}
