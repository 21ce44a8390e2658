"""``spea2`` and ``nsga3`` select with DEAP from their first environmental selection on,
also when too few members are feasible to fill the population."""

from __future__ import annotations

import pytest

from moo_nas.engine import observation
from strategies.deap_moea import NSGA3, SPEA2
from strategies.scalarisation import total_violation

from analytic_benchmark import AnalyticEvaluator, make_problem

BOUND = 3000.0  # macs <= 3000: few networks are feasible


def _generations(cls, seed: int, generations: int, population: int = 10):
    """Run ``generations`` ask/tell generations; returns the strategy and its proposals."""
    problem = make_problem(BOUND)
    ev = AnalyticEvaluator(problem.space, problem.objectives)
    strat = cls(problem, seed, population=population)
    asked = []
    for _ in range(generations):
        batch = strat.ask(strat.batch_size())
        asked.append(batch)
        obs = []
        for g in batch:
            e = ev.evaluate(g, seed)
            obs.append(observation(problem, g, e))
        strat.tell(obs)
    return strat, asked


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spea2_and_nsga3_diverge_after_their_first_selection(seed):
    spea2, a = _generations(SPEA2, seed, 2)
    nsga3, b = _generations(NSGA3, seed, 2)
    # same seed: the same random initial population and the same first offspring (no
    # environmental selection has happened before them) ...
    assert [g.key for g in a[0]] == [g.key for g in b[0]]
    assert [g.key for g in a[1]] == [g.key for g in b[1]]
    # ... with fewer feasible members than places in the first selection's pool, where a
    # feasibility-first fallback gave both the same survivors
    assert spea2.generations == 2
    pool = a[0] + a[1]
    problem = spea2.problem
    ev = AnalyticEvaluator(problem.space, problem.objectives)
    assert sum(ev.evaluate(g, seed).status == "ok" for g in pool) < spea2.mu
    # yet the first selections keep different survivors and the next children differ
    assert {o.genotype.key for o in spea2.parents} != {o.genotype.key for o in nsga3.parents}
    assert [g.key for g in spea2.ask(10)] != [g.key for g in nsga3.ask(10)]


def test_penalised_fitness_puts_every_feasible_member_first():
    strat, _ = _generations(SPEA2, 0, 2)  # survivors of a pool with < 10 feasible
    pool = strat.parents
    fit = strat.fitness(pool)
    viol = [total_violation(strat.problem, o) for o in pool]
    feasible = [f for f, v in zip(fit, viol) if v == 0]
    infeasible = [f for f, v in zip(fit, viol) if v > 0]
    assert feasible and infeasible
    for f in feasible:
        for h in infeasible:
            assert (f < h).all()  # strictly better in every objective: dominates
