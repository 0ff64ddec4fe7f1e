/* Deregistration of crossjit's debug objects from the GDB JIT interface.
 *
 * Why it exists: LLVM's executors (14-22) register debug objects but have no way to
 * deregister them, so releasing the object's memory would leave a dangling entry in
 * __jit_debug_descriptor (a debugger attaching later reads freed memory). crossjit
 * links this into programs built for debugging and calls it, through run_as_main,
 * before it releases the memory: every entry whose symfile lies in [argv[1], argv[2])
 * is unlinked and announced with JIT_UNREGISTER_FN, as the GDB manual prescribes.
 *
 * The entries themselves are leaked (32 bytes each): the executor allocated them with
 * its own allocator (C++ new or calloc), which we must not guess.
 *
 * Freestanding, like crt.c: no headers, any target triple.
 */

typedef unsigned long usize;

struct jit_code_entry {
    struct jit_code_entry *next_entry;
    struct jit_code_entry *prev_entry;
    const char *symfile_addr;
    unsigned long long symfile_size;
};

struct jit_descriptor {
    unsigned int version;
    unsigned int action_flag; /* 0 none, 1 register, 2 unregister */
    struct jit_code_entry *relevant_entry;
    struct jit_code_entry *first_entry;
};

/* Weak: an executor without the GDB interface still runs the program. */
extern struct jit_descriptor __jit_debug_descriptor __attribute__((weak));
extern void __jit_debug_register_code(void) __attribute__((weak));

static usize parse_hex(const char *s) {
    usize v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2;
    for (;; s++) {
        char c = *s;
        if (c >= '0' && c <= '9') v = v * 16 + (usize)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (usize)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = v * 16 + (usize)(c - 'A' + 10);
        else return v;
    }
}

/* Returns how many entries were removed, or -1 without a GDB interface. */
int __crossjit_jit_debug_unregister(int argc, char **argv) {
    if (argc < 3 || !&__jit_debug_descriptor || !__jit_debug_register_code) return -1;
    usize lo = parse_hex(argv[1]), hi = parse_hex(argv[2]);
    struct jit_descriptor *d = &__jit_debug_descriptor;
    int removed = 0;
    struct jit_code_entry *e = d->first_entry;
    while (e) {
        struct jit_code_entry *next = e->next_entry;
        usize at = (usize)e->symfile_addr;
        if (at >= lo && at < hi) {
            if (e->prev_entry) e->prev_entry->next_entry = e->next_entry;
            else d->first_entry = e->next_entry;
            if (e->next_entry) e->next_entry->prev_entry = e->prev_entry;
            d->relevant_entry = e;
            d->action_flag = 2;
            __jit_debug_register_code();
            removed++;
        }
        e = next;
    }
    d->relevant_entry = 0;
    d->action_flag = 0;
    return removed;
}
