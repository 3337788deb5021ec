"""Build of the compiled core (pipeline/core/_kernels.pyx); the metadata is in setup.cfg."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "pipeline.core._kernels", ["pipeline/core/_kernels.pyx"], extra_compile_args=["-O3"]
            )
        ],
        compiler_directives={"language_level": "3"},
    )
)
