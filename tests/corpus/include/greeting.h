#define GREETING_PREFIX "hello, "
