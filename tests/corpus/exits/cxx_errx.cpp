// C++: errx() from libc ends the process; static destructors (registered through
// __cxa_atexit, interposed by crossjit's runtime) still run, as natively.
#include <cstdio>
#include <err.h>
#include <string>
struct Noisy { std::string name; ~Noisy() { std::printf("destroying %s\n", name.c_str()); } };
static Noisy global{"global"};
int main() { static Noisy local{"function-static"}; std::printf("main\n"); errx(9, "bye"); }
