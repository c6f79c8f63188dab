"""A small exact Gaussian process on the unit cube, and log expected improvement.

The model: outcomes standardized; Matern-5/2 kernel with one lengthscale per dimension (ARD);
the priors of Optuna's ``GPSampler`` (``-(0.1 / s + 0.1 s)`` on ``s = lengthscale^-2``, which
keeps lengthscales near 1 in the unit cube, ``Gamma(2, 1)`` on the signal variance,
``Gamma(1.1, 30)`` on the noise variance); hyperparameters by maximum a posteriori with L-BFGS-B
(scipy), warm-started from the previous fit. BoTorch's ``SingleTaskGP`` priors (Hvarfner et al.,
2024: a lengthscale prior ``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))`` whose median is 10 in 6-D)
were used before: on Hartmann6 they let lengthscales grow past 3-6, the model then ignores those
dimensions and the search settles in a local basin (4/20 runs below regret 0.1 against 8/20 with
these priors, same seeds).

It is written here rather than taken from BoTorch because BoTorch's generic machinery costs
0.5-0.9 s of CPU per suggestion at 200 trials (measured: about 8 ms per marginal-likelihood
evaluation in gpytorch), four times the 0.2 s budget. Here the gradients of the marginal likelihood
(with respect to the hyperparameters) and of log EI (with respect to the query points) are written
out in closed form, so one evaluation builds no autograd graph: CPU per marginal-likelihood
evaluation 1.0 ms at 50 trials and 4.2 ms at 200 (autograd: 3.3 and 10.2 ms), per log-EI
evaluation of 4 points 1.0-1.2 ms (autograd: 3.1-3.3 ms).

Shapes: ``n`` training points, ``m`` query points, ``d`` dimensions; everything float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize

__all__ = ["GaussianProcess", "log_expected_improvement"]

_JITTER = 1e-6  # added to the fitted noise (standardized units): keeps the Cholesky well posed
_NOISE_BOUNDS = (1e-8, 1.0)
_LS_BOUNDS = (1e-3, 1e2)
_SCALE_BOUNDS = (1e-2, 1e2)
_WARM_MAXITER = 30  # L-BFGS-B iterations of a warm-started fit (a cold one gets 200)


def _matern52(a: torch.Tensor, b: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 kernel matrix ``(len(a), len(b))`` with ARD lengthscales ``(d,)``."""
    return _matern_of_r2(_sq_dist(a / lengthscale, b / lengthscale))[0]


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distances ``(m, n)`` between rows, without an ``(m, n, d)`` tensor."""
    sq = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2.0 * a @ b.T
    return torch.clamp(sq, min=0.0)


def _matern_of_r2(r2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-variance Matern-5/2 as a function of the scaled squared distance ``r2``, and its
    derivative with respect to ``r2`` (finite at 0: ``-5/6``)."""
    r = torch.sqrt(5.0 * r2)
    e = torch.exp(-r)
    return (1.0 + r + (5.0 / 3.0) * r2) * e, (-5.0 / 6.0) * (1.0 + r) * e


class GaussianProcess:
    """Exact GP regression with fitted hyperparameters.

    Args:
        x: ``(n, d)`` float64 inputs in the unit cube.
        y: ``(n,)`` float64 outcomes (finite).
        init: hyperparameters to start the fit from (``log_params`` of a previous fit), or ``None``
            for the prior's mode.
        fit: fit the hyperparameters (``False`` keeps ``init`` as they are).
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, *, init: np.ndarray | None = None, fit: bool = True
    ) -> None:
        self.x = torch.as_tensor(x, dtype=torch.float64)
        y = np.asarray(y, dtype=np.float64)
        self.y_mean = float(y.mean())
        std = float(y.std())
        self.y_std = std if std > 1e-12 else 1.0
        self.y = torch.as_tensor((y - self.y_mean) / self.y_std)  # (n,) standardized
        self._sqd: torch.Tensor | None = None  # (d, n, n) squared differences, for the fit
        d = self.x.shape[1]
        default = np.array([0.0] * d + [math.log(1e-2), 0.0])  # lengthscales 1, noise 0.01
        warm = init is not None and len(init) == d + 2
        self.log_params = np.asarray(init, dtype=np.float64) if warm else default
        if fit and len(y) > 1:
            self._fit(maxiter=_WARM_MAXITER if warm else 200)
        self._factor()

    @property
    def lengthscale(self) -> torch.Tensor:
        return torch.exp(torch.as_tensor(self.log_params[:-2]))

    @property
    def noise(self) -> float:
        """Noise variance in standardized units (the jitter included)."""
        return float(math.exp(self.log_params[-2])) + _JITTER

    @property
    def outputscale(self) -> float:
        return float(math.exp(self.log_params[-1]))

    def neg_log_posterior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``-(log p(y | theta) + log p(theta)) / n`` and its gradient in closed form.

        ``theta`` is ``(d + 2,)``: log lengthscales, log noise, log signal variance. With
        ``W = K^-1 - alpha alpha^T``, ``d(-log p(y))/d theta = tr(W dK/d theta) / 2``.

        Raises:
            torch.linalg.LinAlgError: the kernel matrix is not positive definite.
        """
        n = self.y.shape[0]
        if self._sqd is None or self._sqd.shape[1] != n:
            self._sqd = (self.x.T[:, None, :] - self.x.T[:, :, None]).square()
        sqd = self._sqd
        t = torch.as_tensor(theta, dtype=torch.float64)
        log_ls, log_noise, log_scale = t[:-2], t[-2], t[-1]
        inv_ls2 = torch.exp(-2.0 * log_ls)  # (d,)
        scale, noise = torch.exp(log_scale), torch.exp(log_noise)
        k0, dk0 = _matern_of_r2(torch.tensordot(inv_ls2, sqd, dims=1))  # (n, n)
        k = scale * k0
        k.diagonal().add_(noise + _JITTER)
        chol = torch.linalg.cholesky(k)
        alpha = torch.cholesky_solve(self.y[:, None], chol)[:, 0]
        nll = 0.5 * self.y @ alpha + torch.log(torch.diagonal(chol)).sum()
        nll = nll + 0.5 * n * math.log(2 * math.pi)
        w = torch.cholesky_inverse(chol) - torch.outer(alpha, alpha)  # (n, n)
        m = w * dk0 * scale
        g_ls = -inv_ls2 * torch.tensordot(sqd, m, dims=([1, 2], [0, 1]))  # (d,)
        g_noise = 0.5 * noise * torch.diagonal(w).sum()
        g_scale = 0.5 * (w * k0).sum() * scale
        # Log priors over the log parameters (up to constants, Jacobian terms included), as in
        # Optuna's GPSampler: -(0.1 / s + 0.1 s) on s = 1 / ls^2 (mode ls = 1), Gamma(2, 1) on
        # the signal variance, Gamma(1.1, 30) on the noise variance.
        prior = -(0.1 / inv_ls2 + 0.1 * inv_ls2).sum()
        gp_ls = -(0.2 / inv_ls2 - 0.2 * inv_ls2)
        prior = prior + log_scale - scale
        gp_scale = 1.0 - scale
        nv = noise + _JITTER
        prior = prior + 0.1 * torch.log(nv) - 30.0 * nv
        gp_noise = (0.1 / nv - 30.0) * noise
        grad = torch.cat([g_ls - gp_ls, (g_noise - gp_noise)[None], (g_scale - gp_scale)[None]])
        return float(nll - prior) / n, grad.numpy() / n

    def _fit(self, *, maxiter: int) -> None:
        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            try:
                return self.neg_log_posterior(theta)
            except torch.linalg.LinAlgError:
                return 1e10, np.zeros_like(theta)

        d = self.x.shape[1]
        bounds = [tuple(math.log(v) for v in _LS_BOUNDS)] * d + [
            tuple(math.log(v) for v in _NOISE_BOUNDS),
            tuple(math.log(v) for v in _SCALE_BOUNDS),
        ]
        start = np.clip(self.log_params, [b[0] for b in bounds], [b[1] for b in bounds])
        res = minimize(
            f, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
        )
        if np.all(np.isfinite(res.x)) and res.fun < 1e9:
            self.log_params = res.x

    def _factor(self) -> None:
        k = self.outputscale * _matern52(self.x, self.x, self.lengthscale)
        k.diagonal().add_(self.noise)
        self._chol = torch.linalg.cholesky(k)
        self._alpha = torch.cholesky_solve(self.y[:, None], self._chol)[:, 0]

    def posterior(self, xq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation ``(m,)`` of the latent function at ``xq`` ``(m, d)``, in
        standardized units."""
        ks = self.outputscale * _matern52(xq, self.x, self.lengthscale)  # (m, n)
        mean = ks @ self._alpha
        v = torch.linalg.solve_triangular(self._chol, ks.T, upper=False)  # (n, m)
        var = torch.clamp(self.outputscale - (v * v).sum(0), min=1e-12)
        return mean, torch.sqrt(var)

    def log_ei_and_grad(self, xq: np.ndarray, best: float) -> tuple[np.ndarray, np.ndarray]:
        """Log expected improvement below ``best`` at ``xq`` ``(m, d)`` and its gradient
        ``(m, d)`` with respect to ``xq``, in closed form."""
        x = torch.as_tensor(xq, dtype=torch.float64)
        inv_ls2 = torch.exp(-2.0 * torch.as_tensor(self.log_params[:-2]))  # (d,)
        scale = self.outputscale
        diff = x[:, None, :] - self.x[None, :, :]  # (m, n, d)
        k0, dk0 = _matern_of_r2((diff * diff) @ inv_ls2)  # (m, n)
        ks = scale * k0
        mean = ks @ self._alpha
        v = torch.linalg.solve_triangular(self._chol, ks.T, upper=False)  # (n, m)
        raw_var = scale - (v * v).sum(0)
        var = torch.clamp(raw_var, min=1e-12)
        std = torch.sqrt(var)
        # dk_i/dx = scale * k0'(r2_i) * 2 (x - x_i) / ls^2
        dks = (2.0 * scale) * dk0[:, :, None] * diff * inv_ls2  # (m, n, d)
        kinv_k = torch.linalg.solve_triangular(self._chol.T, v, upper=True).T  # (m, n)
        d_mean = torch.einsum("n,mnd->md", self._alpha, dks)
        d_var = -2.0 * torch.einsum("mn,mnd->md", kinv_k, dks)
        d_var = torch.where((raw_var > 1e-12)[:, None], d_var, torch.zeros_like(d_var))
        value, rho = _log_ei_and_dz(mean, std, best)
        z = (best - mean) / std
        # log EI = log h(z) + log std;  z = (best - mean) / std
        d_dmean = -rho / std
        d_dstd = (1.0 - rho * z) / std
        grad = d_dmean[:, None] * d_mean + (d_dstd / (2.0 * std))[:, None] * d_var
        return value.numpy(), grad.numpy()

    def condition(self, xq: np.ndarray, value: float | None = None) -> GaussianProcess:
        """The same hyperparameters, with ``xq`` ``(p, d)`` added as if observed: at the posterior
        mean (the kriging believer) or, given ``value`` (standardized), at that value (a constant
        liar). Either way the variance collapses there."""
        if len(xq) == 0:
            return self
        xt = torch.as_tensor(xq, dtype=torch.float64)
        mean = self.posterior(xt)[0] if value is None else torch.full((len(xq),), value)
        out = GaussianProcess.__new__(GaussianProcess)
        out.__dict__.update(self.__dict__)
        out.x = torch.cat([self.x, xt])
        out.y = torch.cat([self.y, mean.to(torch.float64)])
        out._factor()
        return out

    def standardize(self, y: float) -> float:
        """An outcome in the units :meth:`posterior` uses."""
        return (y - self.y_mean) / self.y_std


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``."""
    return torch.where(
        x > -math.log(2.0),
        torch.log(-torch.expm1(torch.clamp(x, max=-1e-300))),
        torch.log1p(-torch.exp(torch.clamp(x, max=-math.log(2.0)))),
    )


def _log_h(z: torch.Tensor) -> torch.Tensor:
    """``log(phi(z) + z Phi(z))``, stable far into the lower tail."""
    c1 = 0.5 * math.log(2 * math.pi)
    c2 = 0.5 * math.log(math.pi / 2)
    z_hi = torch.clamp(z, min=-1.0)
    h_hi = torch.exp(-0.5 * z_hi * z_hi - c1) + z_hi * torch.special.ndtr(z_hi)
    z_lo = torch.clamp(z, min=-1e5, max=-1.0)
    erfcx = torch.special.erfcx(-z_lo / math.sqrt(2.0))
    log_h_lo = -0.5 * z_lo * z_lo - c1 + _log1mexp(torch.log(erfcx * -z_lo) + c2)
    return torch.where(z > -1.0, torch.log(h_hi), log_h_lo)


def _log_ei_and_dz(
    mean: torch.Tensor, std: torch.Tensor, best: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log EI ``(m,)`` and ``d log h / dz = Phi(z) / h(z)`` ``(m,)``."""
    z = (best - mean) / std
    log_h = _log_h(z)
    rho = torch.exp(torch.special.log_ndtr(torch.clamp(z, min=-1e5)) - log_h)
    return log_h + torch.log(std), rho


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best: float) -> torch.Tensor:
    """``log E[max(best - f, 0)]`` for ``f ~ N(mean, std^2)`` (minimization), stable far into the
    tail (Ament et al., 2023, "Unexpected improvements to expected improvement").

    Args:
        mean: ``(m,)`` posterior means.
        std: ``(m,)`` posterior standard deviations (> 0).
        best: the best (lowest) observed value, in the same units.

    Returns:
        ``(m,)`` log expected improvement.
    """
    return _log_h((best - mean) / std) + torch.log(std)
