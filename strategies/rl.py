"""``rl``: a REINFORCE policy-gradient controller over the space's decision variables.

The controller is a distribution over genotypes, one categorical decision per variable of
the space (the integer encoding, :meth:`moo_nas.space.SearchSpace.encode`):

* ``controller="independent"`` (default): one vector of logits per variable, starting at
  zero (uniform sampling);
* ``controller="lstm"``: an LSTM cell that emits the variables in order, each step fed an
  embedding of the previous choice (NAS-RL / ENAS style controller).

Each :meth:`ask` samples a batch from the controller, one genotype after the other so that a
shorter ask draws a prefix of a longer one (a sample equal to a genotype already proposed is
redrawn up to 20 times).  Each :meth:`tell` turns the observations into rewards
and takes one Adam step (``lr``; default 0.2 for the independent controller, 0.1 for the
LSTM) on ``-(r - b) * log p(genotype) - entropy * H`` averaged over the
batch, where ``b`` is an exponential moving average of past rewards.

Rewards (larger is better):

* ``reward="chebyshev"`` (default): minus the augmented Chebyshev scalarisation of the
  normalised objectives (:class:`strategies.scalarisation.Normaliser`) with weights drawn
  uniformly from the simplex afresh for every batch, minus ``penalty`` times the normalised
  constraint violation;
* ``reward="soft-constraint"`` (MnasNet): ``log q + sum_j w_j log(c_j / T_j)`` where ``q`` is
  the first unbounded objective (its value when maximised, its inverse when minimised),
  ``c_j / T_j`` each bounded metric over its bound (inverted for maximised metrics), and
  ``w_j = alpha`` when the bound holds, ``beta`` otherwise (MnasNet: -0.07 both);
* failed evaluations get the worst reward seen so far minus 1.

All randomness comes from a ``torch.Generator`` and the strategy's numpy generator seeded
from ``seed``; the global torch RNG is never used, so proposals depend only on the seed and
the observations and the engine can resume the search by replay.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from moo_nas.errors import UserError
from moo_nas.seen import Seen
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy
from .scalarisation import CLIP, Normaliser, chebyshev, random_weights, total_violation

_TRIES = 20
CONTROLLERS = ("independent", "lstm")
REWARDS = ("chebyshev", "soft-constraint")
#: Adam step sizes that learn within a few dozen evaluations on the digits spaces
DEFAULT_LR = {"independent": 0.2, "lstm": 0.1}


class IndependentPolicy(nn.Module):
    """One categorical per variable, logits initialised at zero."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.logits = nn.ParameterList([nn.Parameter(torch.zeros(k)) for k in sizes])

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        cols = [torch.multinomial(torch.softmax(lg.detach(), -1).expand(n, -1), 1,
                                  generator=gen)[:, 0] for lg in self.logits]
        return torch.stack(cols, dim=1)

    def log_prob_entropy(self, actions: torch.Tensor, active: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of each action row (summed over the ``active`` variables, all by
        default) and the policy's entropy."""
        logp = torch.zeros(actions.shape[0])
        ent = torch.zeros(())
        for i, lg in enumerate(self.logits):
            lsm = torch.log_softmax(lg, -1)
            term = lsm[actions[:, i]]
            logp = logp + (term if active is None else term * active[:, i])
            ent = ent - (lsm.exp() * lsm).sum()
        return logp, ent.expand(actions.shape[0])


class LSTMPolicy(nn.Module):
    """Autoregressive controller: LSTM cell, one embedding and one decoder per variable."""

    def __init__(self, sizes: Sequence[int], hidden: int, gen: torch.Generator) -> None:
        super().__init__()
        self.hidden = hidden
        self.start = nn.Parameter(torch.zeros(hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.embed = nn.ModuleList([nn.Embedding(k, hidden) for k in sizes])
        self.decode = nn.ModuleList([nn.Linear(hidden, k) for k in sizes])
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-0.1, 0.1, generator=gen)
            for d in self.decode:  # start from (nearly) uniform sampling
                d.weight.mul_(0.1)
                d.bias.zero_()

    def _run(self, n: int, actions: torch.Tensor | None, gen: torch.Generator | None,
             active: torch.Tensor | None = None):
        h = torch.zeros(n, self.hidden)
        c = torch.zeros(n, self.hidden)
        x = self.start.expand(n, -1)
        taken, logp, ent = [], torch.zeros(n), torch.zeros(n)
        for i, dec in enumerate(self.decode):
            h, c = self.cell(x, (h, c))
            lsm = torch.log_softmax(dec(h), -1)
            if actions is None:
                a = torch.multinomial(lsm.detach().exp(), 1, generator=gen)[:, 0]
            else:
                a = actions[:, i]
            taken.append(a)
            term = lsm.gather(1, a[:, None])[:, 0]
            logp = logp + (term if active is None else term * active[:, i])
            ent = ent - (lsm.exp() * lsm).sum(-1)
            x = self.embed[i](a)
        return torch.stack(taken, 1), logp, ent

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return self._run(n, None, gen)[0]

    def log_prob_entropy(self, actions: torch.Tensor, active: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`IndependentPolicy.log_prob_entropy`."""
        _, logp, ent = self._run(actions.shape[0], actions, None, active)
        return logp, ent


class REINFORCE(Strategy):
    """REINFORCE controller with moving-average baseline and entropy bonus."""

    name = "rl"
    description = "REINFORCE controller (independent or LSTM), Chebyshev or MnasNet soft-constraint reward"

    def __init__(self, problem: Problem, seed: int = 0, *, batch: int = 8, lr: float | None = None,
                 entropy: float = 0.01, baseline_decay: float = 0.9,
                 controller: str = "independent", hidden: int = 32,
                 reward: str = "chebyshev", penalty: float = 1.0,
                 alpha: float = -0.07, beta: float = -0.07) -> None:
        super().__init__(problem, seed)
        if controller not in CONTROLLERS:
            raise UserError(f"rl controller {controller!r} is unknown; use one of {', '.join(CONTROLLERS)}.")
        if reward not in REWARDS:
            raise UserError(f"rl reward {reward!r} is unknown; use one of {', '.join(REWARDS)}.")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise UserError(f"rl option batch must be a positive integer, got {batch!r}.")
        if not 0 <= baseline_decay < 1:
            raise UserError(f"rl option baseline_decay must be in [0, 1), got {baseline_decay!r}.")
        if (lr is not None and not lr > 0) or not entropy >= 0 or int(hidden) < 1:
            raise UserError("rl options lr and hidden must be positive and entropy non-negative.")
        self.batch, self.entropy_coef, self.decay = batch, float(entropy), float(baseline_decay)
        self.reward_kind, self.penalty = reward, float(penalty)
        self.alpha, self.beta = float(alpha), float(beta)
        self.gen = torch.Generator().manual_seed(self.seed)
        sizes = [len(v) for v in self.space.variables]
        self.policy: nn.Module = (IndependentPolicy(sizes) if controller == "independent"
                                  else LSTMPolicy(sizes, int(hidden), self.gen))
        if lr is None:
            lr = DEFAULT_LR[controller]
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=float(lr))
        self.norm = Normaliser(problem)
        self.baseline: float | None = None
        self.worst = -2.0 * CLIP
        self.proposed = Seen(self.space)
        self.updates = 0
        unbounded = [i for i, o in enumerate(problem.objectives) if o.bound is None]
        self.primary = unbounded[0] if unbounded else 0

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self.batch

    def ask(self, n: int) -> list[Genotype]:
        out = []
        for _ in range(n):  # one at a time: ask(k) is a prefix of ask(n), as resume needs
            g, _ = self.proposed.first_unseen(self._draw(), lambda _: self._draw(), _TRIES)
            self.proposed.add(g)
            out.append(g)
        return out

    def _draw(self) -> Genotype:
        """One genotype from the controller's current policy."""
        return self.space.decode(self.policy.sample(1, self.gen).numpy()[0])

    def tell(self, observations: Sequence[Observation]) -> None:
        if not observations:
            return
        for obs in observations:
            if obs.status == "ok":
                self.norm.update(obs.f)
        rewards = self.rewards(observations)
        actions = torch.as_tensor(np.stack([self.space.encode(o.genotype) for o in observations]))
        r = torch.as_tensor(rewards, dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(r.mean())
        adv = r - self.baseline
        # an inactive variable did not shape the network: its choice earns no credit
        active = (torch.as_tensor(~self.space.inactive_mask(actions.numpy()), dtype=torch.float32)
                  if self.space.conditions else None)
        logp, ent = self.policy.log_prob_entropy(actions, active)
        loss = -(adv * logp).mean() - self.entropy_coef * ent.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.baseline = self.decay * self.baseline + (1 - self.decay) * float(r.mean())
        self.updates += 1

    # ------------------------------------------------------------------ rewards
    def rewards(self, observations: Sequence[Observation]) -> np.ndarray:
        """Reward of each observation (see the module docstring); larger is better."""
        w = random_weights(self.rng, self.problem.n_obj)
        out = np.full(len(observations), np.nan)
        for j, obs in enumerate(observations):
            if obs.f is None or obs.status == "failed":
                continue
            if self.reward_kind == "chebyshev":
                viol = min(total_violation(self.problem, obs), CLIP)
                out[j] = -float(chebyshev(self.norm(obs.f), w)) - self.penalty * viol
            else:
                out[j] = self._soft(np.asarray(obs.f, dtype=float))
        if np.any(np.isfinite(out)):
            self.worst = min(self.worst, float(np.nanmin(out)))
        return np.where(np.isfinite(out), out, self.worst - 1.0)

    def _soft(self, f: np.ndarray) -> float:
        objs = self.problem.objectives
        natural = np.array([fi if o.direction == "min" else -fi for o, fi in zip(objs, f)])
        p = natural[self.primary]
        q = p if objs[self.primary].direction == "max" else 1.0 / max(p, 1e-12)
        r = float(np.log(max(q, 1e-3)))
        for i, o in enumerate(objs):
            if o.bound is None or i == self.primary:
                continue
            ratio = natural[i] / o.bound if o.direction == "min" else o.bound / max(natural[i], 1e-12)
            ratio = max(float(ratio), 1e-12)
            r += (self.alpha if ratio <= 1 else self.beta) * float(np.log(ratio))
        return r

    def stats(self) -> dict[str, float]:
        return {"policy_updates": float(self.updates)}
