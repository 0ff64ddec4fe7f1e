// Uses the thread_local variables of cxx_def.cpp from a thread and from main.
#include <cstdio>
#include <string>
#include <thread>
extern thread_local std::string name;
extern thread_local int plain_counter;
int main() {
  std::thread t([] { name += "-thread"; plain_counter++; std::printf("%s %d\n", name.c_str(), plain_counter); });
  t.join();
  std::printf("%s %d\n", name.c_str(), plain_counter);
}
