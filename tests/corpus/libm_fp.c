#include <math.h>
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argv;
    volatile double x = 0.5 * argc; /* keep the calls from being folded */
    printf("sin=%.6f cos=%.6f\n", sin(x), cos(x));
    printf("pow=%.6f sqrt=%.6f\n", pow(x + 1.5, 3.5), sqrt(x * 8));
    printf("exp=%.6f log=%.6f atan2=%.6f\n", exp(x), log(x + 2), atan2(x, 3.0));
    float f = (float)x * 3.0f;
    printf("fmodf=%.4f floor=%.1f hypot=%.6f\n", fmodf(f, 1.1f), floor(x * 7.3), hypot(3, x));
    return (int)lround(x * 10);
}
