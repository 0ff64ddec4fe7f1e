/* llvm-jitlink interop: prints its argv, exits with a status computed from it. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int sum = 0;
    for (int i = 0; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
        sum += (int)strlen(argv[i]);
    }
    printf("no newline at the end");
    return argc * 10 + sum % 10; /* args "a" "bb" "ccc" -> 36 */
}
