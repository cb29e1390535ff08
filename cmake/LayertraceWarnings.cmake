# Warnings for the project's own code: on, and errors. Demos use the same set; generated code
# (cffi's emitted C, moc output) is compiled without -Werror because we do not own its text.
function(layertrace_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Werror
    $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Woverloaded-virtual>
    -Wshadow -Wformat=2 -Wundef)
endfunction()

# For targets whose sources we generate but do not write by hand.
function(layertrace_generated_warnings target)
  target_compile_options(${target} PRIVATE -Wall)
endfunction()
