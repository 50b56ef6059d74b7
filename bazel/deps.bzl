"""The external repositories actnet needs, for a WORKSPACE file.

A workspace that uses actnet declares it and calls the macro:

    local_repository(name = "actnet", path = "/path/to/actnet")
    load("@actnet//bazel:deps.bzl", "actnet_dependencies")
    actnet_dependencies()

actnet's own WORKSPACE calls the same macro. Nothing is downloaded: the
libraries are Debian's (tools/setup.sh installs them) and the Bazel shims
live in actnet's tree.
"""

load(
    "@bazel_tools//tools/cpp:cc_configure.bzl",
    "MSVC_ENVVARS",
    "cc_autoconf_impl",
)

def _in_tree_repository_impl(repository_ctx):
    # The folder is found through a label, not a path, so the repository
    # works wherever actnet is checked out, as the main workspace or as
    # an external one.
    root = repository_ctx.path(repository_ctx.attr.anchor).dirname
    folder = root.get_child(repository_ctx.attr.folder)
    if not folder.exists:
        fail("actnet: %s is missing from actnet's tree" % folder)
    for entry in folder.readdir():
        repository_ctx.symlink(entry, entry.basename)

# A repository made of one of actnet's in-tree folders, e.g. the rules_cc
# shim; `anchor` is a file beside that folder.
_in_tree_repository = repository_rule(
    implementation = _in_tree_repository_impl,
    attrs = {
        "anchor": attr.label(allow_single_file = True, mandatory = True),
        "folder": attr.string(mandatory = True),
    },
    local = True,
)

# Bazel 4's default C++ flag is -std=c++0x; the toolchain's BUILD says so.
_BAZEL_CXX_DEFAULT = 'cxx_flags = ["-std=c++0x"]'

def _cc_autoconf_std_impl(repository_ctx):
    # Bazel's own autoconfiguration of the host compiler, then only the
    # default language standard changed. A standard chosen through
    # BAZEL_CXXOPTS is kept, because the default string is then absent.
    cc_autoconf_impl(repository_ctx)
    build = repository_ctx.read("BUILD")
    standard = 'cxx_flags = ["-std=%s"]' % repository_ctx.attr.standard
    repository_ctx.file("BUILD", build.replace(_BAZEL_CXX_DEFAULT, standard))

# @local_config_cc as Bazel's cc_autoconf makes it, with another default
# -std. Declared by the WORKSPACE before Bazel's own, so it is the one used.
_cc_autoconf_std = repository_rule(
    implementation = _cc_autoconf_std_impl,
    attrs = {"standard": attr.string(mandatory = True)},
    # The variables Bazel's cc_autoconf reads, so a change reconfigures.
    environ = [
        "ABI_LIBC_VERSION",
        "ABI_VERSION",
        "BAZEL_COMPILER",
        "BAZEL_CXXOPTS",
        "BAZEL_HOST_SYSTEM",
        "BAZEL_IGNORE_SYSTEM_HEADERS_VERSIONS",
        "BAZEL_LINKLIBS",
        "BAZEL_LINKOPTS",
        "BAZEL_LLVM",
        "BAZEL_LLVM_COV",
        "BAZEL_PYTHON",
        "BAZEL_SH",
        "BAZEL_TARGET_CPU",
        "BAZEL_TARGET_LIBC",
        "BAZEL_TARGET_SYSTEM",
        "BAZEL_USE_CPP_ONLY_TOOLCHAIN",
        "BAZEL_USE_LLVM_NATIVE_COVERAGE",
        "BAZEL_USE_XCODE_TOOLCHAIN",
        "BAZEL_DO_NOT_DETECT_CPP_TOOLCHAIN",
        "CC",
        "CC_CONFIGURE_DEBUG",
        "CC_TOOLCHAIN_NAME",
        "CPLUS_INCLUDE_PATH",
        "DEVELOPER_DIR",
        "GCOV",
        "HOMEBREW_RUBY_PATH",
        "SYSTEMROOT",
        "USE_CLANG_CL",
        "USER",
    ] + MSVC_ENVVARS,
    configure = True,
)

def _system_library(name, path):
    if not native.existing_rule(name):
        native.new_local_repository(
            name = name,
            build_file = str(Label("//third_party/%s:%s.BUILD" % (name, name))),
            path = path,
        )

def actnet_dependencies(cxx_standard = "c++20"):
    """Declares every repository actnet needs, unless already declared.

    A repository the calling WORKSPACE declared earlier under the same name
    is kept: bring your own Abseil as @absl, with an `@absl//:absl` target.
    Must be called from a WORKSPACE file.

    Args:
      cxx_standard: the -std of the host C++ toolchain's default flags,
        which Bazel 4 sets to c++0x. actnet's headers need C++20 in every
        file that includes them, and flags do not travel from a library
        to its dependents, so the toolchain's default is the one place a
        plain cc_binary gets them from. None keeps Bazel's toolchain (then
        pass --cxxopt=-std=c++20, or give targets copts = ["-std=c++20"]);
        so does declaring @local_config_cc before this call.
    """

    # Bazel 4.2.3 names @rules_cc, @rules_java and @remote_coverage_tools
    # in its own tools and would download them: rules_java comes from
    # Debian's bazel-rules-java, the other two are small in-tree shims
    # (Debian's rules_cc is too new for Bazel 4; coverage is not used).
    if not native.existing_rule("rules_java"):
        native.local_repository(
            name = "rules_java",
            path = "/usr/share/bazel/rules/java",
        )
    for shim in ["rules_cc", "remote_coverage_tools"]:
        if not native.existing_rule(shim):
            _in_tree_repository(
                name = shim,
                anchor = Label("//third_party:BUILD.bazel"),
                folder = shim,
            )

    if cxx_standard and not native.existing_rule("local_config_cc"):
        _cc_autoconf_std(name = "local_config_cc", standard = cxx_standard)

    # Libraries from Debian packages.
    _system_library("absl", "/usr")
    _system_library("concurrentqueue", "/usr/include/concurrentqueue")
    _system_library("doctest", "/usr/include/doctest")
    _system_library("http_parser", "/usr/include")
    _system_library("liburing", "/usr/include")
    _system_library("openssl", "/usr/include")
