"""evalkit: evidence to keep good integrated local pilots alive.

Four things, end to end:

1. **Waste** (:mod:`evalkit.waste`): failure demand from a person-level event log, priced.
2. **Evaluate** (:mod:`evalkit.evaluate`): the pilot's effect on outcomes, with diagnostics.
3. **Sustain** (:mod:`evalkit.money`, :mod:`evalkit.benefits`, :mod:`evalkit.split`,
   :mod:`evalkit.sustain`): benefits by partner, cost-split options, funding after the grant.
4. **Publish** (:mod:`evalkit.report`, :mod:`evalkit.disclosure`): a Jupyter Book per place
   with statistical disclosure control on every published number.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evalkit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0+src"

__all__ = ["__version__"]
