// Default options of the sanitizer runtimes, linked into every executable of a
// -DTOKEND_SANITIZE build (tokend, tokend_unit_tests, tokend_e2e_tests) and
// into no other build. The runtimes read these before the environment, so
// ASAN_OPTIONS / UBSAN_OPTIONS / TSAN_OPTIONS still override them by hand.
//
// Why these: a test must fail on any report, including one in a tokend server
// that an end-to-end test started. So every report stops the process
// (halt_on_error) with one exit code that tokend itself never uses (86): an
// e2e test that expects a CLI error (exit 1) cannot mistake a sanitizer abort
// for it, and tests/e2e/support/process.cpp recognises it and the report text.

extern "C" {

// Leaks are reported at exit (detect_leaks, on by default on Linux) with the
// same exit code.
const char* __asan_default_options() {
  return "halt_on_error=1:exitcode=86:abort_on_error=0:detect_leaks=1:"
         "check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1";
}

const char* __ubsan_default_options() { return "halt_on_error=1:exitcode=86:print_stacktrace=1"; }

const char* __tsan_default_options() { return "halt_on_error=1:exitcode=86:second_deadlock_stack=1"; }

}  // extern "C"
