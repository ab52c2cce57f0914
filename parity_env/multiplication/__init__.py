"""Multiplication with a chain of partial products (Deng et al. 2023's format, LSD first): ``MultiplicationTask``."""

from .task import MultiplicationTask

__all__ = ["MultiplicationTask"]
