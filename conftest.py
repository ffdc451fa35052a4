# `python -m archspec` entry point: importing it would run the CLI during doctest collection
collect_ignore = ["archspec/__main__.py"]
