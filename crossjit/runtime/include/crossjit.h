/* crossjit.h: calls a JIT'd program can make into crossjit's runtime (runtime/crt.c).
 *
 * crossjit_reload_point(): with `crossjit run --watch --live`, a program that calls this
 * function anywhere chooses *when* reloads take effect: the pointer switches of a reload
 * are applied by the next call of crossjit_reload_point(), on the calling thread, instead
 * of at once. Call it where no function that may be edited is on any thread's stack —
 * at the top of an event loop, say. Without --live (or with nothing pending) it returns
 * at once. crossjit adds this header's folder to the include path of live builds.
 */
#ifndef CROSSJIT_H
#define CROSSJIT_H
#ifdef __cplusplus
extern "C" {
#endif
void crossjit_reload_point(void);
#ifdef __cplusplus
}
#endif
#endif
