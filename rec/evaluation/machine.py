"""The machine a measurement ran on, for the header of every results file."""

from __future__ import annotations

import os
import platform
import subprocess

__all__ = ["machine"]


def machine() -> str:
    """CPU model (lscpu, else platform), visible cores, and the Python, numpy and torch versions."""
    name = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("model name")), "")
    except (OSError, subprocess.CalledProcessError):
        pass
    versions = f"Python {platform.python_version()}"
    for module in ("numpy", "torch"):
        try:
            versions += f", {module} {__import__(module).__version__}"
        except ImportError:
            pass
    return f"{name or platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, {versions}"
