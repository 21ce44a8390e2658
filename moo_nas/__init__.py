"""moo_nas: hardware-aware multi-objective neural architecture search.

The package is organised by extension point:

* :mod:`moo_nas.space` – decision variables, genotypes and the :class:`SearchSpace` base class;
* :mod:`moo_nas.arch` – the layer-level description of a network (:class:`ArchSpec`) and the
  generic module builder;
* :mod:`moo_nas.costs` – analytic cost formulas, pure functions of layer shapes;
* :mod:`moo_nas.spaces` – the built-in search spaces;
* :mod:`moo_nas.data` – tasks (datasets with fixed splits);
* :mod:`moo_nas.training` – recipes and the trainer;
* :mod:`moo_nas.objectives` – objective declarations and metric providers;
* :mod:`moo_nas.store` – the SQLite results store;
* :mod:`moo_nas.engine` – the ask/evaluate/tell loop, budgets and executors;
* :mod:`moo_nas.comparator` – hypervolume, IGD+ and cost curves;
* :mod:`moo_nas.cli` – the ``moo-nas`` command.
"""

__version__ = "0.1.0"
