; An AArch64 intrinsic in an x86-64 module: instruction selection fails and LLVM calls
; report_fatal_error, which aborts the process: crossjit must report it.
target triple = "x86_64-pc-linux-gnu"

declare void @llvm.aarch64.hint(i32)

define i32 @main() {
  call void @llvm.aarch64.hint(i32 0)
  ret i32 0
}
