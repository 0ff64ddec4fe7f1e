#include <stdio.h>
int sub1(int x) { return x - 1; }
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    printf("argv[argc] is %s\n", argv[argc] ? "set" : "NULL");
    return sub1(argc);
}
