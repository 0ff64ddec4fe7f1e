/* Debugger and unwinder registration of JIT'd code: the GDB JIT interface
 * (version 1) and eh-frame registration through __register_frame. */
#ifndef CROSSJIT_JITDEBUG_H
#define CROSSJIT_JITDEBUG_H

#include <stdint.h>

#include "wfr.h"

#define EXPORT __attribute__((visibility("default")))

struct jit_code_entry {
    struct jit_code_entry *next_entry;
    struct jit_code_entry *prev_entry;
    const char *symfile_addr;
    uint64_t symfile_size;
};

struct jit_descriptor {
    uint32_t version;
    uint32_t action_flag; /* 0 none, 1 register, 2 unregister */
    struct jit_code_entry *relevant_entry;
    struct jit_code_entry *first_entry;
};

EXPORT extern struct jit_descriptor __jit_debug_descriptor;
EXPORT void __jit_debug_register_code(void);

/* Wrapper ABI (ExecutorAddrRange [, bool] -> Error). Exported under LLVM's names. */
EXPORT cwfr llvm_orc_registerJITLoaderGDBWrapper(const char *data, size_t size);
EXPORT cwfr llvm_orc_registerJITLoaderGDBAllocAction(const char *data, size_t size);
EXPORT cwfr llvm_orc_registerEHFrameSectionWrapper(const char *data, size_t size);
EXPORT cwfr llvm_orc_deregisterEHFrameSectionWrapper(const char *data, size_t size);

/* Called when JIT memory is unmapped: unregister debug objects inside it so a
 * debugger never reads freed memory, and drop eh-frames registered there. */
void jitdebug_forget_range(uint64_t base, uint64_t size);

#endif
