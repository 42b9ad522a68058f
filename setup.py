"""Package mapping for one distribution with three import packages (see DESIGN.md).

`synthspace` lives in src/synthspace, `synthspace.node` in node/ and `synthspace.coordinator`
in coordinator/. setuptools cannot express "every subpackage below these three folders" in
pyproject.toml alone, so the list is computed here; everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {
    "synthspace": "src/synthspace",
    "synthspace.node": "node",
    "synthspace.coordinator": "coordinator",
}

packages: list[str] = []
for name, path in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(path)]

DATA = ["*.json", "*.yaml", "*.yml", "*.jsonl", "*.csv", "*.html", "*.css", "*.js", "*.svg",
        "*.ini", "*.mako", "*.txt", "py.typed"]

setup(
    packages=packages,
    package_dir=ROOTS,
    package_data={pkg: DATA + [f"**/{d}" for d in DATA] for pkg in packages},
)
