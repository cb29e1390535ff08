# ASan+UBSan for code that runs in our own processes (tracer, GUI, tests). The probe and the
# demos' extension modules are loaded into Python, which is not built with ASan, so they never
# get sanitizer flags: an ASan runtime must be the first library of a process.
function(layertrace_sanitize target)
  if(LAYERTRACE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    # GCC 12 with ASan at -O1 and above reports std::function members inside libstdc++'s
    # std::regex compiler (_State moves in regex_automaton.h) as "may be used uninitialized":
    # a known false positive (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105616; the ASan
    # instrumentation hides the initialisation from the warning's data-flow pass). The same code
    # is checked with the warning on in every unsanitized build (default: -O2), so only the
    # sanitized objects go without it.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
    # A sanitized static library's objects call into the ASan/UBSan runtime, so every executable
    # linking it (benchmarks, test peers) needs the runtime too, whether or not it is sanitized
    # itself: the link flags travel with the library.
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      target_link_options(${target} PUBLIC -fsanitize=address,undefined)
    else()
      target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    endif()
  endif()
endfunction()
