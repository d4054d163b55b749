"""Packaging detail pyproject.toml cannot say: ship boards/ and firmware_templates/ (top-level
folders of the repository) inside the package as edgesnn/boards and edgesnn/firmware_templates,
so that an installed wheel builds firmware without a checkout (edgesnn/firmware/paths.py)."""

from setuptools import find_packages, setup

ASSETS = {"edgesnn.boards": "boards", "edgesnn.firmware_templates": "firmware_templates"}

setup(
    packages=find_packages("sdk") + list(ASSETS),
    package_dir={"": "sdk", **ASSETS},
    package_data={"edgesnn.fixedpoint": ["host_kernel.c"], "edgesnn.web": ["static/*"], "edgesnn.boards": ["*.toml", "*.json"], "edgesnn.firmware_templates": ["**/*.c", "**/*.h", "**/*.cpp",
                                                                                          "**/*.S", "**/*.j2"]},
    include_package_data=False,
)
