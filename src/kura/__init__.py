"""kura (蔵): the electronic storage system of a hospital."""

__version__ = "0.1.0"
