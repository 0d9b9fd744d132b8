# Helpers that keep per-folder CMakeLists.txt files to a few lines.

# postern_library(NAME DEPS...): a static library from every *.cpp in the
# current folder except *_test.cpp and *_fuzz.cpp; unit tests (*_test.cpp)
# become one GoogleTest binary NAME_test registered with ctest.
function(postern_library name)
  file(GLOB srcs CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.cpp")
  list(FILTER srcs EXCLUDE REGEX "_(test|fuzz)\\.cpp$")
  add_library(postern_${name} STATIC ${srcs})
  add_library(postern::${name} ALIAS postern_${name})
  target_include_directories(postern_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src/lib ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(postern_${name} PUBLIC ${ARGN})
  postern_unit_tests(${name} postern::${name})
  postern_fuzzers(postern::${name})
endfunction()

# postern_fuzzers(DEPS...): every *_fuzz.cpp in the current folder becomes a
# libFuzzer binary fuzz_<stem> when POSTERN_FUZZ is on (clang builds only).
function(postern_fuzzers)
  if(NOT POSTERN_FUZZ)
    return()
  endif()
  file(GLOB fuzzers CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*_fuzz.cpp")
  foreach(f ${fuzzers})
    get_filename_component(stem ${f} NAME_WE)
    string(REGEX REPLACE "_fuzz$" "" stem ${stem})
    postern_fuzzer(fuzz_${stem} ${f} ${ARGN})
    set_target_properties(fuzz_${stem} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  endforeach()
endfunction()

# postern_unit_tests(NAME DEPS...): *_test.cpp in the current folder.
function(postern_unit_tests name)
  if(NOT POSTERN_TESTS)
    return()
  endif()
  file(GLOB tests CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp")
  if(tests)
    add_executable(${name}_test ${tests})
    target_link_libraries(${name}_test PRIVATE ${ARGN} GTest::gtest_main)
    gtest_discover_tests(${name}_test DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit)
  endif()
endfunction()

# postern_daemon(NAME SOURCES... LIBS ...): a daemon in libexec/postern.
function(postern_daemon name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${P_SOURCES})
  target_link_libraries(${name} PRIVATE ${P_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${POSTERN_BUILD_DAEMON_DIR})
  install(TARGETS ${name} DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/postern)
endfunction()

# postern_command(NAME SOURCES... LIBS ...): a command in sbin.
function(postern_command name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${P_SOURCES})
  target_link_libraries(${name} PRIVATE ${P_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${POSTERN_BUILD_COMMAND_DIR})
  install(TARGETS ${name} DESTINATION ${CMAKE_INSTALL_SBINDIR})
endfunction()

# postern_fuzzer(NAME SOURCE LIBS...): a libFuzzer target (clang only).
function(postern_fuzzer name source)
  add_executable(${name} ${source})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${name} PRIVATE ${ARGN})
endfunction()
