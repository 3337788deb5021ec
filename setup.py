"""Build of the compiled modules: the core's per-event steps (pipeline/core/_kernels.pyx) and the
KCL child's framing of processRecords lines (consumers/kcl/_framing.pyx). The metadata is in
setup.cfg."""

from Cython.Build import cythonize
from setuptools import Extension, setup

COMPILED = {
    "pipeline.core._kernels": "pipeline/core/_kernels.pyx",
    "consumers.kcl._framing": "consumers/kcl/_framing.pyx",
}

setup(
    ext_modules=cythonize(
        [
            Extension(name, [source], extra_compile_args=["-O3"])
            for name, source in COMPILED.items()
        ],
        compiler_directives={"language_level": "3"},
    )
)
