"""Surrogate predictors that cut training cost.

* :mod:`.base` – the :class:`~surrogates.base.Predictor` interface (fit / predict mean and std).
* :mod:`.models` – scikit-learn models behind it (GP, random forest, extra trees, gradient
  boosting, MLP, k-NN, Bayesian ridge, bootstrap and averaged ensembles); one per objective, the
  same machinery for accuracy and for latency / energy.
* :mod:`.features` – genotype -> feature vector (generic spaces, NAS-Bench-201 cells).
* :mod:`.zero_cost` – synflow, snip, grad_norm, jacob_cov, naswot, params, MACs at
  initialisation.
* :mod:`.learning_curve` – final accuracy extrapolated from the first epochs (low fidelity).
* :mod:`.evaluation` – Kendall tau / Spearman / MAE vs training-set size on a table or store
  (``moo-nas surrogates evaluate``).

The surrogate-assisted search strategy is ``strategies.surrogate_nsga2`` (``surrogate-nsga2``).
"""
