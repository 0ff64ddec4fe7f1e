/* Golden fixture (PIC half): compiled with clang-16 -c -fPIC -O1 by regen.py. */
int g_data = 5;                       /* global, preemptible: reached through the GOT */
static int s_data[4] = {1, 2, 3, 4};  /* local: PC32 */
static const char msg[] = "golden";   /* .rodata */
extern int np_value(int i);           /* defined in nopic.c */
int *ptrs[] = {&g_data, &s_data[2]};  /* R_X86_64_64 */
const char *msgp = msg + 2;           /* R_X86_64_64 to .rodata + addend */
int (*fp)(int) = np_value;            /* R_X86_64_64 to another object's function */

__attribute__((noinline)) static int local_fn(int x) { return x * 3 + s_data[x & 3]; }

int pic_entry(int i) {
    g_data += i;                                 /* REX_GOTPCRELX */
    return local_fn(i) + np_value(i) + msg[i & 3]; /* PLT32 to local and to global */
}
