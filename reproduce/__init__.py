"""Lecture 22 of Deep Learning for Visual Computing, re-run and checked claim by claim."""

__version__ = "0.1.0"
