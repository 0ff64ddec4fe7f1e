// llvm-jitlink interop (glibc): libstdc++ through the process handle, exceptions
// unwinding through JIT'd frames registered with __register_frame.
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

static int check(int x)
{
    if (x > 2)
        throw std::runtime_error("boom " + std::to_string(x));
    return x;
}

int main()
{
    std::vector<int> v{1, 2, 3};
    int sum = 0;
    try {
        for (int x : v)
            sum += check(x);
    } catch (const std::exception &e) {
        std::cout << "caught " << e.what() << "\n";
    }
    std::cout << "sum " << sum << std::endl;
    return sum;
}
