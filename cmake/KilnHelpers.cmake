# Build helpers: one static library per subsystem, one test executable per subsystem.

set(KILN_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(KILN_WERROR)
  list(APPEND KILN_WARNINGS -Werror)
endif()

# kiln_cc_library(NAME <target> SRCS <files...> DEPS <targets...> [PRIVATE_DEPS <targets...>])
# The public headers are include/kiln/<subsystem>/. The private ones stay in the subsystem's
# own folder and only its own target sees them: each library gets an include root of its own
# that holds one link, <subsystem> -> its source folder, so "registry/sql_db.h" compiles in
# src/registry and is "file not found" anywhere else (scripts/check-deps checks the rest).
function(kiln_cc_library)
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${K_NAME} STATIC ${K_SRCS})
  get_filename_component(subsystem ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  set(private_root ${CMAKE_BINARY_DIR}/private_include/${K_NAME})
  file(MAKE_DIRECTORY ${private_root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${private_root}/${subsystem} SYMBOLIC)
  set_target_properties(${K_NAME} PROPERTIES KILN_PRIVATE_ROOT ${private_root})
  target_include_directories(${K_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${private_root})
  target_compile_options(${K_NAME} PRIVATE ${KILN_WARNINGS})
  target_link_libraries(${K_NAME} PUBLIC ${K_DEPS} PRIVATE ${K_PRIVATE_DEPS})
endfunction()

# The private include roots of the kiln libraries in <deps>, for white-box tests of them.
function(kiln_private_roots OUT)
  set(roots)
  foreach(dep ${ARGN})
    if(TARGET ${dep})
      get_target_property(root ${dep} KILN_PRIVATE_ROOT)
      if(root)
        list(APPEND roots ${root})
      endif()
    endif()
  endforeach()
  set(${OUT} ${roots} PARENT_SCOPE)
endfunction()

# kiln_cc_test(NAME <target> SRCS <files...> DEPS <targets...> [LABELS <labels...>] [WHOLE])
# Tests without labels are labelled `unit`. Each test case is its own ctest, unless WHOLE: then
# the binary is one ctest (for suites sharing one expensive fixture, e.g. a database server).
function(kiln_cc_test)
  cmake_parse_arguments(K "WHOLE" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${K_NAME} ${K_SRCS})
  # A test sees the private headers of the libraries it names, and no others.
  kiln_private_roots(roots ${K_DEPS})
  target_include_directories(${K_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/include ${roots}
    ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${K_NAME} PRIVATE ${KILN_WARNINGS})
  # Where tests find the binary and the sources ($KILN_BIN / $KILN_SOURCE_DIR override).
  target_compile_definitions(${K_NAME} PRIVATE KILN_TEST_BIN="${CMAKE_BINARY_DIR}/kiln"
    KILN_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${K_NAME} PRIVATE ${K_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT K_LABELS)
    set(K_LABELS unit)
  endif()
  if(K_WHOLE)
    add_test(NAME ${K_NAME} COMMAND ${K_NAME} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${K_NAME} PROPERTIES LABELS "${K_LABELS}")
  else()
    # kiln's tests never skip: gtest reports the tests of a suite whose SetUpTestSuite failed
    # as SKIPPED, and gtest_discover_tests would make that a ctest skip, not a failure.
    gtest_discover_tests(${K_NAME}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
      PROPERTIES LABELS "${K_LABELS}" SKIP_REGULAR_EXPRESSION "^kiln tests never skip$"
      DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# kiln_cc_bench(NAME <target> SRCS <files...> DEPS <targets...>)
function(kiln_cc_bench)
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${K_NAME} ${K_SRCS})
  target_include_directories(${K_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${K_NAME} PRIVATE ${KILN_WARNINGS})
  target_link_libraries(${K_NAME} PRIVATE ${K_DEPS} benchmark::benchmark benchmark::benchmark_main)
endfunction()
