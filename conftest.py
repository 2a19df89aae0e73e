"""Test-session settings shared by the package tests and the notebook runs (nbval).

Tests never touch the network (HALFWAY_OFFLINE) and write results and figures to a
temporary folder, not into the repository. Kernels started by nbval inherit this
environment; PATH starts with this Python's folder so that they run this Python.
"""
import os
import sys
import tempfile

os.environ.setdefault("HALFWAY_OUTPUT", tempfile.mkdtemp(prefix="halfway-test-output-"))
os.environ["HALFWAY_OFFLINE"] = "1"
os.environ.setdefault("HALFWAY_QUIET", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
