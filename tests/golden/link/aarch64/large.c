/* Golden fixture (large code model): clang-16 --target=aarch64-linux-gnu -fno-pic
 * -mcmodel=large -O1 by regen.py: addresses built with MOVZ/MOVK (MOVW_UABS_G0..G3). */
static int counter = 7;
extern int g_data;
int a64_other_c(int x) { counter += x; return counter + g_data; }
