/* The static executor has no dynamic loader: the process handle resolves
 * this fixed table of libc symbols (plus the executor's own exports). Add a
 * line here to make another libc function available to JIT'd code. */
#ifdef CROSSJIT_STATIC
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "wrappers.h"

#define S(name) {#name, (const void *)&name}

struct sym {
    const char *name;
    const void *addr;
};

#pragma GCC diagnostic ignored "-Wpedantic"
static const struct sym table[] = {
    /* stdio */
    S(printf), S(fprintf), S(sprintf), S(snprintf), S(vprintf), S(vfprintf), S(vsnprintf),
    S(vsprintf), S(puts), S(putchar), S(fputs), S(fputc), S(putc), S(fwrite), S(fread),
    S(fopen), S(fclose), S(fflush), S(fgets), S(fgetc), S(getc), S(getchar), S(perror),
    S(sscanf), S(fseek), S(ftell), S(setvbuf), S(fileno), S(fseeko), S(ftello), S(remove),
    S(rename), S(fscanf),
    {"stdin", &stdin}, {"stdout", &stdout}, {"stderr", &stderr},
    /* stdlib */
    S(malloc), S(calloc), S(realloc), S(free), S(aligned_alloc), S(posix_memalign),
    S(exit), S(_Exit), S(abort), S(atexit), S(atoi), S(atol), S(strtol), S(strtoul),
    S(strtoll), S(strtoull), S(strtod), S(strtof), S(qsort), S(bsearch), S(getenv),
    S(setenv), S(rand), S(srand), S(abs), S(labs), S(llabs),
    /* string */
    S(memcpy), S(memmove), S(memset), S(memcmp), S(memchr), S(strlen), S(strnlen),
    S(strcmp), S(strncmp), S(strcpy), S(strncpy), S(strcat), S(strncat), S(strchr),
    S(strrchr), S(strstr), S(strdup), S(strndup), S(strerror), S(strtok), S(strspn),
    S(strcspn), S(strcasecmp), S(strncasecmp),
    /* ctype */
    S(isalpha), S(isdigit), S(isalnum), S(isspace), S(isupper), S(islower), S(isxdigit),
    S(isprint), S(ispunct), S(toupper), S(tolower),
    /* math (in musl's libc) */
    S(sqrt), S(sin), S(cos), S(tan), S(atan2), S(pow), S(exp), S(log), S(log10),
    S(floor), S(ceil), S(fabs), S(fmod), S(round), S(hypot), S(trunc), S(cbrt), S(exp2),
    S(log2), S(ldexp), S(frexp), S(lround), S(asin), S(acos), S(atan), S(sinh), S(cosh),
    S(tanh), S(sqrtf), S(sinf), S(cosf), S(tanf), S(atan2f), S(powf), S(expf), S(logf),
    S(floorf), S(ceilf), S(fabsf), S(fmodf), S(roundf), S(hypotf),
    /* unix, time, signals, threads */
    S(read), S(write), S(close), S(open), S(lseek), S(unlink), S(getpid), S(sleep), S(_exit),
    S(sigaltstack), {"environ", &environ},
    S(usleep), S(isatty), S(fstat), S(stat), S(mmap), S(munmap), S(time), S(clock),
    S(mkdir), S(rmdir), S(opendir), S(readdir), S(closedir),
    S(clock_gettime), S(nanosleep), S(gettimeofday), S(signal), S(sigaction), S(raise),
    S(sigemptyset), S(sigaddset), S(setjmp), S(longjmp), S(_setjmp), S(_longjmp),
    S(__errno_location), S(pthread_create), S(pthread_join), S(pthread_mutex_lock),
    S(pthread_mutex_unlock), S(pthread_self),
    /* thread-local storage (crossjit/runtime/tls.c) and the programs using it */
    S(pthread_key_create), S(pthread_key_delete), S(pthread_getspecific),
    S(pthread_setspecific), S(sched_yield), S(pthread_barrier_init), S(pthread_barrier_wait),
    S(pthread_barrier_destroy),
    /* sockets */
    S(socket), S(bind), S(listen), S(accept), S(connect), S(send), S(recv), S(sendto),
    S(recvfrom), S(setsockopt), S(getsockopt), S(getsockname), S(shutdown), S(poll),
    S(fcntl), S(getpeername), S(inet_addr), S(inet_ntop), S(inet_pton), S(epoll_create1),
    S(epoll_ctl), S(epoll_wait),
};

uint64_t static_syms_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(name, table[i].name))
            return (uint64_t)(uintptr_t)table[i].addr;
    return 0;
}
#else
typedef int static_syms_unused; /* ISO C forbids an empty translation unit */
#endif
