"""Compiler flags shared by every actnet target.

They travel with the targets, so actnet's own sources build the same in a
workspace that uses Bazel's defaults (Bazel 4's toolchain passes
-std=c++0x; a later -std wins).
"""

ACTNET_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

ACTNET_TEST_COPTS = ACTNET_COPTS
