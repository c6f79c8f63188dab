"""Bayesian optimization: a Gaussian process with log expected improvement.

1. Initial design: the first ``n_initial`` trials (finished + running) are points of a scrambled,
   seeded Sobol sequence: point ``k`` of the search is Sobol point ``k``.
2. Afterwards: fit :class:`~lamina.search.gp.GaussianProcess` to the finished trials (warm-started
   from the previous fit), condition it on the running ones as a constant liar (observed at the
   best value so far, which collapses the variance and hence the improvement there), and maximize
   log expected improvement; for ``n > 1`` repeat, conditioning on each proposal in turn. Parallel
   workers therefore never get the same point, and a proposal that rounds (ints, choices) onto a
   tried point is replaced by the next best candidate.
3. Maximizing the acquisition: ``raw_samples`` random points plus perturbations of the best
   trials, scored in one batch; L-BFGS-B from the ``num_restarts`` best, in the continuous
   relaxation (ints and one-hot choices rounded afterwards), with the closed-form gradient of
   log EI and the variables scaled by the lengthscales (as Optuna does).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.stats import qmc

from lamina.errors import UsageError
from lamina.search.gp import GaussianProcess, log_expected_improvement
from lamina.search.space import SearchSpace
from lamina.search.strategy import Direction, UnitCubeStrategy

__all__ = ["BayesStrategy"]
_LOCAL_MAXITER = 100


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in the search extra
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class BayesStrategy(UnitCubeStrategy):
    """GP + log expected improvement, batch- and pending-aware (constant liar).

    Args:
        space: the search space.
        seed: seeds the Sobol design and the acquisition's random starts.
        direction: ``"minimize"`` or ``"maximize"``.
        n_initial: Sobol points before the GP takes over (at least 2 finished trials are needed
            as well).
        raw_samples: random candidates scored before local optimization.
        num_restarts: candidates optimized with L-BFGS-B.

    Example:
        >>> from lamina.search.space import FloatDist, SearchSpace
        >>> space = SearchSpace({"x": FloatDist(-1.0, 1.0)})
        >>> bo = BayesStrategy(space, seed=0, n_initial=3)
        >>> history = []
        >>> for _ in range(8):
        ...     (a,) = bo.suggest(history, [], 1)
        ...     history.append((a, (a["x"] - 0.3) ** 2))
        >>> min(v for _, v in history) < 1e-3
        True
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        direction: Direction = "minimize",
        n_initial: int = 8,
        raw_samples: int = 512,
        num_restarts: int = 4,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if n_initial < 1 or raw_samples < 1 or num_restarts < 1:
            raise UsageError(
                "n_initial, raw_samples and num_restarts must be >= 1. "
                f"Got {n_initial}, {raw_samples}, {num_restarts}."
            )
        self.n_initial = n_initial
        self.raw_samples = raw_samples
        self.num_restarts = num_restarts
        self._log_params: np.ndarray | None = None  # warm start of the next fit (a cache)

    def propose(
        self, x: np.ndarray, y: np.ndarray, pending: np.ndarray, n: int, seen: set[bytes]
    ) -> list[np.ndarray]:
        # One BLAS thread: scipy's L-BFGS-B makes thousands of tiny BLAS calls, and a thread pool
        # spinning on a busy machine makes each one cost milliseconds.
        with _one_blas_thread():
            return self._propose(x, y, pending, n, seen)

    def _propose(
        self, x: np.ndarray, y: np.ndarray, pending: np.ndarray, n: int, seen: set[bytes]
    ) -> list[np.ndarray]:
        done = len(x) + len(pending)
        ok = np.isfinite(y)
        out: list[np.ndarray] = []
        if done < self.n_initial or ok.sum() < 2:
            out = self._sobol(done, min(n, max(self.n_initial - done, 0)) or n, seen)
            if len(out) == n:
                return out
        if ok.sum() < 2:
            return out + self.random_fill(n - len(out), seen, index=done + len(out))
        gp = GaussianProcess(x[ok], y[ok], init=self._log_params)
        self._log_params = gp.log_params
        best = gp.standardize(float(y[ok].min()))
        # Constant liar (CL-min): running and just-proposed points count as observed at the best
        # value so far. On Hartmann6 in batches of 4 it reached regret < 0.1 in 8/20 runs where
        # the kriging believer (observed at the posterior mean) reached 1/20.
        gp = gp.condition(
            np.concatenate([pending.reshape(-1, x.shape[1]), *[u[None] for u in out]]), best
        )
        rng = np.random.default_rng([self.seed, done, 1])
        incumbents = x[ok][np.argsort(y[ok])[:5]]
        while len(out) < n:
            u = self._maximize(gp, best, incumbents, rng, seen)
            if u is None:
                out += self.random_fill(n - len(out), seen, index=done + len(out))
                break
            seen.add(self.key(u))
            out.append(u)
            gp = gp.condition(u[None], best)
        return out

    def _sobol(self, start: int, count: int, seen: set[bytes]) -> list[np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "balance properties" for counts not powers of two
            points = qmc.Sobol(self.space.dim, scramble=True, seed=self.seed).random(start + count)
        out = []
        for u in points[start:]:
            k = self.key(u)
            if k not in seen:
                seen.add(k)
                out.append(self.space.project(u))
        return out

    def _maximize(
        self,
        gp: GaussianProcess,
        best: float,
        incumbents: np.ndarray,
        rng: np.random.Generator,
        seen: set[bytes],
    ) -> np.ndarray | None:
        """The unseen point (projected) of highest log EI found, or ``None``."""
        d = self.space.dim
        raw = [rng.random((self.raw_samples, d))]
        for scale in (0.01, 0.05, 0.2):
            centers = incumbents[rng.integers(0, len(incumbents), 64)]
            raw.append(np.clip(centers + scale * rng.standard_normal((64, d)), 0.0, 1.0))
        cand = np.concatenate(raw)  # (raw_samples + 192, d)
        score = self._acq(gp, torch.as_tensor(cand), best).numpy()
        order = np.argsort(-score)
        finals = self._local(gp, best, cand[order[: self.num_restarts]])
        pool = np.concatenate([finals, cand[order[: max(16, len(finals))]]])
        proj = np.array([self.space.project(u) for u in pool])
        proj_score = self._acq(gp, torch.as_tensor(proj), best).numpy()
        for i in np.argsort(-proj_score, kind="stable"):
            if self.key(proj[i]) not in seen:
                return proj[i]
        for u in cand[order[len(pool) - len(finals) :]]:  # small discrete spaces
            p = self.space.project(u)
            if self.key(p) not in seen:
                return p
        return None

    @staticmethod
    def _acq(gp: GaussianProcess, xq: torch.Tensor, best: float) -> torch.Tensor:
        mean, std = gp.posterior(xq)
        return log_expected_improvement(mean, std, best)

    def _local(self, gp: GaussianProcess, best: float, starts: np.ndarray) -> np.ndarray:
        """L-BFGS-B on the summed log EI of independent starts ``(r, d)`` -> ``(r, d)``.

        Preconditioned as Optuna does: the variables are ``x / lengthscale``, so that every
        direction has the same curvature scale."""
        shape = starts.shape
        ls = np.clip(gp.lengthscale.numpy(), 1e-3, 1.0)  # (d,)

        def f(flat: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = gp.log_ei_and_grad(flat.reshape(shape) * ls, best)
            return -float(value.sum()), -(grad * ls).ravel()

        upper = np.broadcast_to(1.0 / ls, shape).ravel()
        res = minimize(
            f,
            (starts / ls).ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(np.zeros_like(upper), upper, strict=True)),
            options={"maxiter": _LOCAL_MAXITER},
        )
        return np.clip(res.x.reshape(shape) * ls, 0.0, 1.0)
