#include <stdio.h>
static const char *kind(int c) {
    switch (c) {
    case 0: return "zero";
    case 1: return "one";
    case 2: return "two";
    case 3: return "three";
    case 4: return "four";
    case 5: return "five";
    case 6: return "six";
    case 7: return "seven";
    case 8: return "eight";
    case 9: return "nine";
    case 10: return "ten";
    default: return "many";
    }
}
static int score(int c) {
    switch (c) {
    case 'a': return 1; case 'b': return 3; case 'c': return 3; case 'd': return 2;
    case 'e': return 1; case 'f': return 4; case 'g': return 2; case 'h': return 4;
    case 'i': return 1; case 'j': return 8; case 'k': return 5; case 'l': return 1;
    default: return 0;
    }
}
int main(int argc, char **argv) {
    int total = 0;
    for (int i = 0; i <= 11; i++) printf("%d:%s ", i, kind(i));
    printf("\n");
    const char *w = argc > 1 ? argv[1] : "jackfield";
    for (const char *p = w; *p; p++) total += score(*p);
    printf("score(%s)=%d\n", w, total);
    return total;
}
