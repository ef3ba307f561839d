"""What git knows about a registry: the repository, release tags, LFS pointers, the catalog.

- :mod:`~modelreg.git.repo`: a small layer over the git command line (plumbing, ``-z``
  formats, clear errors); every git subprocess of modelreg starts here.
- :mod:`~modelreg.git.tags`: the one place that derives a version's release tag name.
- :mod:`~modelreg.git.releases`: each version's tag, commit and state, read in a constant
  number of git calls.
- :mod:`~modelreg.git.gto`: GTO's tag grammar, read the way GTO reads it.
- :mod:`~modelreg.git.lfs`: Git LFS pointer files, recognised and compared without the object.
- :mod:`~modelreg.git.catalog`: the registry as a table (``modelreg list`` and ``show``).

Nothing here writes the work tree; writes go through :mod:`modelreg.storage`.
"""
