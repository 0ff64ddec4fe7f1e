/* Calls zlib, which the executor loads with dlopen("libz.so.1"). */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int main(int argc, char **argv)
{
    const char *text = argc > 1 ? argv[1] : "crossjit";
    unsigned long crc = crc32(0L, (const unsigned char *)text, (unsigned)strlen(text));
    printf("zlib %s: crc32(%s) = %08lx\n", zlibVersion(), text, crc);
    return 0;
}
