"""cc_headers: the headers of C++ targets as runfiles.

A test that runs a compiler of its own (typed_compile_test) needs the
headers a target exports and everything they include, laid out as they are
included ("actors/engine.h" under the workspace's runfiles root). CcInfo
already holds that set; this rule hands it over as data.
"""

def _cc_headers_impl(ctx):
    headers = depset(transitive = [
        dep[CcInfo].compilation_context.headers
        for dep in ctx.attr.deps
    ])
    return [DefaultInfo(
        files = headers,
        runfiles = ctx.runfiles(transitive_files = headers),
    )]

cc_headers = rule(
    implementation = _cc_headers_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
    },
    doc = "The transitive headers of `deps`, as files and runfiles.",
)
