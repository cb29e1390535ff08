# ASan+UBSan for code that runs in our own processes (tracer, GUI, tests). The probe and the
# demos' extension modules are loaded into Python, which is not built with ASan, so they never
# get sanitizer flags: an ASan runtime must be the first library of a process.
function(layertrace_sanitize target)
  if(LAYERTRACE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
