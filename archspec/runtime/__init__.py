"""The only package that imports torch: lowering specs to modules, weights, checks."""

from archspec.runtime.build import SpecModule, build
from archspec.runtime.weights import load_weights

__all__ = ["SpecModule", "build", "load_weights"]
