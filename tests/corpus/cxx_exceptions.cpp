// an exception thrown through JIT'd frames and caught
#include <cstdio>
#include <stdexcept>
#include <string>
struct Guard {
    const char *what;
    ~Guard() { std::printf("unwound %s\n", what); }
};
[[gnu::noinline]] static int deep(int n) {
    Guard g{"deep"};
    if (n == 0) throw std::runtime_error("bottom reached");
    return deep(n - 1) + 1;
}
int main() {
    int caught = 0;
    try {
        Guard g{"main-try"};
        deep(3);
    } catch (const std::runtime_error &e) {
        std::printf("caught: %s\n", e.what());
        caught = 1;
    }
    try {
        throw 42;
    } catch (int v) {
        std::printf("caught int %d\n", v);
        caught += v;
    }
    std::string s = "exceptions";
    return caught + static_cast<int>(s.size());
}
