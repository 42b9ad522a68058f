"""Print synthspace's runtime requirements from pyproject.toml, one a line, without torch.

Used by node-gpu.Dockerfile: the vLLM base image already has the CUDA torch that vLLM was
built against, and synthspace's CPU pin (torch==2.13.0) must not replace it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SKIP = {"torch"}


def requirements(pyproject: Path) -> list[str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    out = []
    for req in data["project"]["dependencies"]:
        name = re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()
        if name not in SKIP:
            out.append(req)
    return out


if __name__ == "__main__":
    print("\n".join(requirements(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
