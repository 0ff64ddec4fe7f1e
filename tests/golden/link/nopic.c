/* Golden fixture (non-PIC half): compiled with clang-16 -c -fno-pic -O1 by regen.py. */
int np_table[8] = {10, 11, 12, 13, 14, 15, 16, 17};
extern int g_data;

int np_value(int i) {
    return np_table[i & 7] + g_data;  /* R_X86_64_32S (indexed), PC32 */
}
unsigned long np_addr(void) { return (unsigned long)&np_table[3]; } /* R_X86_64_32 */
