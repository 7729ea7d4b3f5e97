// The entry point of a fuzzer built by SwiftPM. SwiftPM links an executable with `main` defined as
// `<module>_main`, so libFuzzer's own `main` is never linked in; each fuzzer defines `<module>_main` (with
// @_cdecl) and calls kd_fuzz_run, which hands control to libFuzzer's driver with the target's
// LLVMFuzzerTestOneInput.
#pragma once
int kd_fuzz_run(int argc, char **argv);
