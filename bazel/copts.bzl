"""Compiler flags shared by every actnet target."""

ACTNET_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]

ACTNET_TEST_COPTS = ACTNET_COPTS
