; LLVM rejects an unknown register name with an error diagnostic, and without a
; diagnostic handler LLVM ends the process with exit(1): crossjit must report it.
target triple = "x86_64-pc-linux-gnu"

declare i64 @llvm.read_register.i64(metadata)

define i32 @main() {
  %v = call i64 @llvm.read_register.i64(metadata !0)
  %t = trunc i64 %v to i32
  ret i32 %t
}

!0 = !{!"not_a_register"}
