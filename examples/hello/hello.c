/* The smallest crossjit program: prints its arguments, exits with their count. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("hello from crossjit");
    for (int i = 1; i < argc; i++)
        printf(" [%s]", argv[i]);
    printf("\n");
    return argc - 1;
}
