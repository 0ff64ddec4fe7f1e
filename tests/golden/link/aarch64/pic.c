/* Golden fixture (C half): clang-16 --target=aarch64-linux-gnu -fPIC -O1 by regen.py. */
int g_data = 5;                       /* default visibility: reached through the GOT */
static int s_data[4] = {1, 2, 3, 4};  /* local: ADRP + ADD/LDR */
static const char msg[] = "golden";   /* .rodata */
static long long s_wide = 9;          /* LDR x: LDST64 */
static short s_half = 3;              /* LDRH: LDST16 */
extern int a64_other_c(int);          /* defined in large.c: CALL26 */
int *ptrs[] = {&g_data, &s_data[2]};  /* ABS64 */
const char *msgp = msg + 2;           /* ABS64 to .rodata + addend */
int (*fp)(int) = a64_other_c;         /* ABS64 to another object's function */

__attribute__((noinline)) static int local_fn(int x) { return x * 3 + s_data[x & 3]; }

int c_helper(int i) {
    g_data += i;
    return local_fn(i) + a64_other_c(i) + msg[i & 3] + (int)s_wide + s_half;
}

int c_tail(int i) { return a64_other_c(i + 1); } /* JUMP26: tail call */
