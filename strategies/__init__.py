"""Search strategies: one module per strategy, implementations only.

The interface (:class:`moo_nas.strategy.Strategy`) belongs to the engine, and strategies are
found by name through :data:`moo_nas.registry.STRATEGIES`.  To add one, subclass
:class:`moo_nas.strategy.Strategy` in a new module here and add one line
``"name": "strategies.module:ClassName"`` to that registry — or, from another package, declare
an entry point in the group ``moo_nas.strategies``.
"""
