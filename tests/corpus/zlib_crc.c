/* a library loaded with --dlopen, called from JIT'd code */
#include <stdio.h>
#include <string.h>
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned len);
const char *zlibVersion(void);
int main(void) {
    const char *text = "crossjit";
    unsigned long c = crc32(0, (const unsigned char *)text, (unsigned)strlen(text));
    printf("crc32(%s)=%08lx zlib=%c\n", text, c, zlibVersion()[0]);
    return (int)(c & 0x7f);
}
