"""The maintainers' tools, run from a clone (``python -m export.zoo``, ``export.quality``,
``export.contact_sheet``, ``export.thumbnail``): the shipped zoo's recipes and its reports.

Not installed with rtstyle. The torch side users run (networks, training, optimisation,
conversion) is :mod:`rtstyle.training`; these tools import it, never the other way round.
"""
