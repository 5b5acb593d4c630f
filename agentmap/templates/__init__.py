"""Files ``agentmap init`` copies into a new project (package data, read with importlib.resources).

``init/`` holds the project as written, except that names which would act on
this repository or on tools scanning it are disguised: ``*.tmpl`` (Python
files that ruff, mypy and pytest must not pick up here), ``env.example`` and
``gitignore`` (dot-files, which package-data globs skip). ``{{project}}`` is
replaced by the project folder's name.
"""
