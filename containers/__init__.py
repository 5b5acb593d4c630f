"""Composition root: the only package that imports ``dependency_injector``."""

from containers.application import Application, ApplicationContainer, create_application

__all__ = ["Application", "ApplicationContainer", "create_application"]
