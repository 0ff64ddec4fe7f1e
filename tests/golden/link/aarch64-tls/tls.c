/* Golden TLS fixture (AArch64): TLS descriptor sequences for .tdata and .tbss variables
 * of several alignments and an addend into a struct.
 * Compiled -fPIC -fvisibility=hidden so ld.lld -shared keeps every descriptor (no
 * relaxation) with the variable's offset in the TLS segment as its addend. */
__thread int a = 1;
__thread char b[3] = {2, 3, 4};
__thread _Alignas(32) long c = 5;
__thread struct { long x, y; } d = {6, 7};
__thread int z1;
__thread _Alignas(64) char z2[100];
static __thread short s = 8;

int sum(int i) { return a + b[i] + (int)c + (int)d.y + z1 + z2[i] + s; }
long *addr_y(void) { return &d.y; }
char *addr_z2(void) { return z2 + 1; }
