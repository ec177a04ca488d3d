"""The build step pyproject.toml cannot say: compiling proto/ into the package.

The gRPC analytics service's messages (proto/spantally/analytics/v1/analytics.proto, written
from server/api/spec.py) are compiled with grpcio-tools when the package is built, into
`spantally.analytics.v1`; the generated code is not in the repository.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

_PROTOS = Path(__file__).resolve().parent / "proto"


class BuildWithProtos(build_py):
    def run(self) -> None:
        super().run()
        from importlib.resources import files

        from grpc_tools import protoc

        out = Path(self.build_lib)
        well_known = str(files("grpc_tools") / "_proto")
        for proto in sorted(_PROTOS.rglob("*.proto")):
            status = protoc.main(["grpc_tools.protoc", f"-I{well_known}", f"-I{_PROTOS}",
                                  f"--python_out={out}", f"--pyi_out={out}",
                                  f"--grpc_python_out={out}", str(proto)])
            if status != 0:
                raise RuntimeError(f"protoc failed on {proto} ({status})")
            # Packages for the generated modules (spantally/ itself is the SDK's).
            package = (out / proto.relative_to(_PROTOS)).parent
            while package != out / "spantally":
                (package / "__init__.py").touch()
                package = package.parent


setup(cmdclass={"build_py": BuildWithProtos})
