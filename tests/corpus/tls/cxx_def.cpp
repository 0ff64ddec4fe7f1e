// C++ thread_local defined in another translation unit (with dynamic initialisation):
// the _ZTW wrappers and _ZTH initialisers resolve across objects.
#include <string>
thread_local std::string name = std::string("tl-") + "init";
thread_local int plain_counter = 3;
