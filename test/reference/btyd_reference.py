"""Independent reference for kumiki's BG/NBD and Gamma-Gamma code, used only by the tests.

The published formulas written out with SciPy (gammaln, betaln, hyp2f1 as printed in Fader,
Hardie & Lee 2005 and Fader & Hardie's Gamma-Gamma note, without the transformations the
TypeScript uses), and maximum likelihood with SciPy's own optimiser (L-BFGS-B) from its own
starting point. Reads a JSON request on stdin, writes a JSON answer on stdout.
"""
import json
import sys

try:
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import betaln, gammaln, hyp2f1
except ImportError as error:  # the test reports this as a failure with the fix
    sys.stderr.write(f"python3 needs numpy and scipy for this reference ({error}); run: python3 -m pip install --user scipy\n")
    sys.exit(3)


def bgnbd_ll(params, x, tx, T):
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def p_alive(params, x, tx, T):
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    return 1.0 / (1.0 + odds)


def expected(params, x, tx, T, t):
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * bracket * p_alive(params, x, tx, T)


def gg_ll(params, x, m):
    p, q, g = params
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + x * m))


def fit(ll, start, count):
    result = minimize(lambda u: -np.sum(count * ll(np.exp(u))) / np.sum(count), np.log(start),
                      method="L-BFGS-B", bounds=[(-9, 16)] * len(start), options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 10000})
    params = np.exp(result.x)
    return {"params": params.tolist(), "logLikelihood": float(np.sum(count * ll(params)))}


def main():
    request = json.load(sys.stdin)
    bg = request["bgnbd"]
    x, tx, T, count = (np.array(bg[k], dtype=float) for k in ("x", "tx", "T", "count"))
    gg = request["gammaGamma"]
    gx, gm = np.array(gg["x"], dtype=float), np.array(gg["m"], dtype=float)
    answer = {
        "bgnbd": [
            {
                "logLikelihood": float(np.sum(count * bgnbd_ll(p, x, tx, T))),
                "pAlive": p_alive(p, x, tx, T).tolist(),
                "expected": {str(t): expected(p, x, tx, T, t).tolist() for t in request["horizons"]},
            }
            for p in bg["params"]
        ],
        "gammaGamma": [float(np.sum(gg_ll(p, gx, gm))) for p in gg["params"]],
        "fits": {
            "bgnbd": fit(lambda p: bgnbd_ll(p, x, tx, T), [0.5, 10.0, 0.5, 2.0], count),
            "gammaGamma": fit(lambda p: gg_ll(p, gx, gm), [2.0, 2.0, float(np.mean(gm))], np.ones_like(gx)),
        },
    }
    json.dump(answer, sys.stdout)


main()
