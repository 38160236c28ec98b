"""Packaging for sched_nb; every setting is read from settings.ini."""
import shlex
from configparser import ConfigParser

import setuptools
from packaging.version import Version

config = ConfigParser(delimiters=["="])
config.read("settings.ini", encoding="utf-8")
cfg = config["DEFAULT"]

for key in ("version", "description", "repo", "user", "author", "author_email", "license", "min_python"):
    if key not in cfg:
        raise KeyError(f"settings.ini is missing the key {key!r}")

licenses = {"apache2": ("Apache Software License 2.0", "OSI Approved :: Apache Software License")}
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable", "6 - Mature", "7 - Inactive"]
py_versions = "3.9 3.10 3.11 3.12 3.13".split()
min_python = Version(cfg["min_python"])
lic = licenses.get(cfg["license"].lower(), (cfg["license"], None))

requirements = shlex.split(cfg.get("requirements", ""))
dev_requirements = shlex.split(cfg.get("dev_requirements", ""))
explore_requirements = shlex.split(cfg.get("explore_requirements", ""))
sde_requirements = shlex.split(cfg.get("sde_requirements", ""))
console_scripts = cfg.get("console_scripts", "").split()

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    url=cfg["git_url"],
    author=cfg["author"],
    author_email=cfg["author_email"],
    license=lic[0],
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"])],
        "Intended Audience :: " + cfg["audience"].title(),
        "Natural Language :: " + cfg["language"].title(),
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ]
    + [f"Programming Language :: Python :: {v}" for v in py_versions if Version(v) >= min_python]
    + ([f"License :: {lic[1]}"] if lic[1] else []),
    packages=setuptools.find_packages(include=[cfg["lib_path"], cfg["lib_path"] + ".*"]),
    include_package_data=True,
    package_data={cfg["lib_path"]: ["*.ipynb", "data/*.pt", "share/voila/templates/*/*"]},
    install_requires=requirements,
    extras_require={"dev": dev_requirements, "explore": explore_requirements, "sde": sde_requirements},
    python_requires=">=" + cfg["min_python"],
    zip_safe=False,
    entry_points={
        "console_scripts": console_scripts,
        "nbdev": [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d'],
    },
)
